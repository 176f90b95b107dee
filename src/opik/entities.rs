//! Traces and spans on the wire: the `TraceWrite` and `SpanWrite` bodies of the batch-create
//! endpoints (`opik-protocol.md` §14), with the fields and names of the SDK's own models, and the
//! batch bodies built from entities encoded one at a time (so a batch can be cut at a size).

use super::json_field::JsonObject;
use serde::Serialize;
use std::collections::BTreeMap;

pub const TRACES_BATCH: &str = "v1/private/traces/batch";
pub const SPANS_BATCH: &str = "v1/private/spans/batch";

/// Entities are sent with `source: "sdk"`, as the official SDKs do.
const SOURCE: &str = "sdk";

/// What kind of work a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanType {
    General,
    Llm,
    Tool,
    Guardrail,
}

/// `ErrorInfoWrite`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorInfo {
    pub exception_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub traceback: String,
}

/// The fields traces and spans share.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Common {
    pub project_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<JsonObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<JsonObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_info: Option<ErrorInfo>,
}

impl Common {
    /// Bytes this entity's text takes (queue limits count them).
    pub fn weight(&self) -> u64 {
        let json = |j: &Option<JsonObject>| j.as_ref().map_or(0, JsonObject::len);
        let tags: usize = self.tags.iter().map(String::len).sum();
        let error = self.error_info.as_ref().map_or(0, |e| {
            e.exception_type.len() + e.traceback.len() + e.message.as_ref().map_or(0, String::len)
        });
        (json(&self.input)
            + json(&self.output)
            + json(&self.metadata)
            + tags
            + error
            + self.name.as_ref().map_or(0, String::len)
            + self.project_name.len()
            + 200) as u64
    }
}

/// `TraceWrite`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceWrite {
    pub id: String,
    #[serde(flatten)]
    pub common: Common,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    pub source: &'static str,
}

/// `SpanWrite`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanWrite {
    pub id: String,
    pub trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    #[serde(rename = "type")]
    pub span_type: SpanType,
    #[serde(flatten)]
    pub common: Common,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub usage: BTreeMap<&'static str, i64>,
    pub source: &'static str,
}

impl TraceWrite {
    pub fn new(id: String, common: Common) -> TraceWrite {
        TraceWrite {
            id,
            common,
            thread_id: None,
            source: SOURCE,
        }
    }
}

impl SpanWrite {
    pub fn new(id: String, trace_id: String, span_type: SpanType, common: Common) -> SpanWrite {
        SpanWrite {
            id,
            trace_id,
            parent_span_id: None,
            span_type,
            common,
            model: None,
            provider: None,
            usage: BTreeMap::new(),
            source: SOURCE,
        }
    }
}

/// A trace or a span, ready to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Entity {
    Trace(TraceWrite),
    Span(SpanWrite),
}

impl Entity {
    pub fn id(&self) -> &str {
        match self {
            Entity::Trace(t) => &t.id,
            Entity::Span(s) => &s.id,
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Entity::Trace(t) => &t.common,
            Entity::Span(s) => &s.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut Common {
        match self {
            Entity::Trace(t) => &mut t.common,
            Entity::Span(s) => &mut s.common,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Entity::Trace(_) => "trace",
            Entity::Span(_) => "span",
        }
    }

    /// The entity as its JSON object.
    pub fn encode(&self) -> Vec<u8> {
        let encoded = match self {
            Entity::Trace(t) => serde_json::to_vec(t),
            Entity::Span(s) => serde_json::to_vec(s),
        };
        // Plain strings, numbers and checked JSON text: encoding cannot fail.
        encoded.unwrap_or_default()
    }
}

/// A batch body under construction: `{"traces":[...]}` or `{"spans":[...]}` from entities
/// encoded one by one.
pub struct BatchBody {
    bytes: Vec<u8>,
    count: usize,
}

impl BatchBody {
    pub fn new(key: &str) -> BatchBody {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(b"{\"");
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(b"\":[");
        BatchBody { bytes, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn push(&mut self, encoded: &[u8]) {
        if self.count > 0 {
            self.bytes.push(b',');
        }
        self.bytes.extend_from_slice(encoded);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(b"]}");
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> Common {
        Common {
            project_name: "p".into(),
            start_time: "2026-12-05T01:30:32.828381Z".into(),
            input: Some(JsonObject::parse("input", "[1]").unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn bodies_use_the_sdk_field_names_and_leave_out_what_is_unset() {
        let mut span = SpanWrite::new("s".into(), "t".into(), SpanType::Llm, common());
        span.usage.insert("prompt_tokens", 3);
        let v: serde_json::Value = serde_json::from_slice(&Entity::Span(span).encode()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "s", "trace_id": "t", "type": "llm", "project_name": "p",
                "start_time": "2026-12-05T01:30:32.828381Z", "input": {"value": [1]},
                "usage": {"prompt_tokens": 3}, "source": "sdk"
            })
        );
    }

    #[test]
    fn batch_bodies_are_json() {
        let mut b = BatchBody::new("traces");
        let t = Entity::Trace(TraceWrite::new("a".into(), common()));
        b.push(&t.encode());
        b.push(&t.encode());
        assert_eq!(b.count(), 2);
        let v: serde_json::Value = serde_json::from_slice(&b.finish()).unwrap();
        assert_eq!(v["traces"].as_array().unwrap().len(), 2);
    }
}
