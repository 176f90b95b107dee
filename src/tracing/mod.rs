//! Traces and spans as a program builds them: a handle per entity that records its fields, and
//! on `end` hands the finished entity, with its attachments, to the client's sender.
//!
//! Handles are plain data plus the sender: setting a field copies (and checks) the argument, and
//! nothing here does I/O. A span keeps its trace's id and project and its parent's id, so
//! handles may end in any order.

mod time;

use crate::error::{Error, Result};
use crate::exec::sender::Sender;
use crate::media::attachment::Attachment;
use crate::opik::entities::{Common, Entity, ErrorInfo, SpanType, SpanWrite, TraceWrite};
use crate::opik::json_field::JsonObject;
use std::sync::Arc;
use std::time::SystemTime;

/// A new entity id: a UUID version 7 (Opik refuses others), lower case.
fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

fn now() -> String {
    time::rfc3339_micros(SystemTime::now())
}

/// The fields every entity has, with their setters.
macro_rules! common_setters {
    () => {
        /// Input as JSON text (a non-object is wrapped as `{"value": ...}`).
        pub fn set_input(&mut self, json: &str) -> Result<()> {
            self.common_mut().input = Some(JsonObject::parse("input", json)?);
            Ok(())
        }

        /// Output as JSON text (a non-object is wrapped as `{"value": ...}`).
        pub fn set_output(&mut self, json: &str) -> Result<()> {
            self.common_mut().output = Some(JsonObject::parse("output", json)?);
            Ok(())
        }

        /// Metadata as JSON text (a non-object is wrapped as `{"value": ...}`).
        pub fn set_metadata(&mut self, json: &str) -> Result<()> {
            self.common_mut().metadata = Some(JsonObject::parse("metadata", json)?);
            Ok(())
        }

        /// Adds a tag (tags accumulate; a repeated tag is kept once).
        pub fn add_tag(&mut self, tag: &str) -> Result<()> {
            if tag.trim().is_empty() {
                return Err(Error::invalid("a tag must not be empty"));
            }
            let tags = &mut self.common_mut().tags;
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
            Ok(())
        }

        /// What went wrong: the exception's type and traceback are required by Opik.
        pub fn set_error(
            &mut self,
            exception_type: &str,
            message: Option<&str>,
            traceback: &str,
        ) -> Result<()> {
            if exception_type.trim().is_empty() {
                return Err(Error::invalid("exception_type must not be empty"));
            }
            self.common_mut().error_info = Some(ErrorInfo {
                exception_type: exception_type.to_owned(),
                message: message.map(str::to_owned),
                traceback: traceback.to_owned(),
            });
            Ok(())
        }

        /// Uploads `attachment` to this entity after the entity was sent.
        pub fn attach(&mut self, attachment: &Attachment) {
            self.attachments.push(attachment.clone());
        }
    };
}

/// A trace being recorded. Ends with [`Trace::end`]; dropped without it, nothing is sent.
pub struct Trace {
    body: TraceWrite,
    attachments: Vec<Attachment>,
    sender: Arc<Sender>,
}

impl Trace {
    pub(crate) fn start(sender: Arc<Sender>, project_name: &str, name: Option<&str>) -> Trace {
        Trace {
            body: TraceWrite::new(
                new_id(),
                Common {
                    project_name: project_name.to_owned(),
                    name: name.map(str::to_owned),
                    start_time: now(),
                    ..Default::default()
                },
            ),
            attachments: Vec::new(),
            sender,
        }
    }

    pub fn id(&self) -> &str {
        &self.body.id
    }

    pub fn project_name(&self) -> &str {
        &self.body.common.project_name
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.body.common
    }

    common_setters!();

    /// Groups traces into a conversation.
    pub fn set_thread_id(&mut self, thread_id: &str) -> Result<()> {
        if thread_id.trim().is_empty() {
            return Err(Error::invalid("thread_id must not be empty"));
        }
        self.body.thread_id = Some(thread_id.to_owned());
        Ok(())
    }

    /// A top-level span of this trace.
    pub fn span(&self, name: Option<&str>, kind: SpanType) -> Span {
        Span::start(
            self.sender.clone(),
            self.id(),
            self.project_name(),
            None,
            name,
            kind,
        )
    }

    /// Sets the end time and hands the trace over for sending, then its attachments. Over the
    /// queue limits it is not sent (`OPIK_ERR_TOO_LARGE`).
    pub fn end(mut self) -> Result<()> {
        self.body.common.end_time = Some(now());
        self.sender
            .submit(Entity::Trace(self.body), self.attachments)
    }
}

/// A span being recorded. Ends with [`Span::end`]; dropped without it, nothing is sent.
pub struct Span {
    body: SpanWrite,
    attachments: Vec<Attachment>,
    sender: Arc<Sender>,
}

impl Span {
    fn start(
        sender: Arc<Sender>,
        trace_id: &str,
        project_name: &str,
        parent: Option<&str>,
        name: Option<&str>,
        kind: SpanType,
    ) -> Span {
        let mut body = SpanWrite::new(
            new_id(),
            trace_id.to_owned(),
            kind,
            Common {
                project_name: project_name.to_owned(),
                name: name.map(str::to_owned),
                start_time: now(),
                ..Default::default()
            },
        );
        body.parent_span_id = parent.map(str::to_owned);
        Span {
            body,
            attachments: Vec::new(),
            sender,
        }
    }

    pub fn id(&self) -> &str {
        &self.body.id
    }

    pub fn trace_id(&self) -> &str {
        &self.body.trace_id
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.body.common
    }

    common_setters!();

    /// A span under this one, in the same trace.
    pub fn child(&self, name: Option<&str>, kind: SpanType) -> Span {
        Span::start(
            self.sender.clone(),
            self.trace_id(),
            &self.body.common.project_name,
            Some(self.id()),
            name,
            kind,
        )
    }

    /// The model and its provider (an LLM span's), each optional.
    pub fn set_model(&mut self, model: Option<&str>, provider: Option<&str>) -> Result<()> {
        self.body.model = model.map(str::to_owned);
        self.body.provider = provider.map(str::to_owned);
        Ok(())
    }

    /// Token usage; `None` leaves a count out. Counts must not be negative.
    pub fn set_usage(
        &mut self,
        prompt_tokens: Option<i64>,
        completion_tokens: Option<i64>,
        total_tokens: Option<i64>,
    ) -> Result<()> {
        let mut usage = std::collections::BTreeMap::new();
        for (key, value) in [
            ("prompt_tokens", prompt_tokens),
            ("completion_tokens", completion_tokens),
            ("total_tokens", total_tokens),
        ] {
            if let Some(v) = value {
                if v < 0 {
                    return Err(Error::invalid(format!(
                        "{key} must not be negative, not {v}"
                    )));
                }
                usage.insert(key, v);
            }
        }
        self.body.usage = usage;
        Ok(())
    }

    /// Sets the end time and hands the span over for sending, then its attachments.
    pub fn end(mut self) -> Result<()> {
        self.body.common.end_time = Some(now());
        self.sender
            .submit(Entity::Span(self.body), self.attachments)
    }
}
