//! Listing: project name → id (`projects/retrieve`), then every page of `attachment/list`.

use crate::error::{Error, Result, Status};
use crate::http::Transport;
use crate::opik::protocol::{
    self, AttachmentInfo, AttachmentPage, EntityType, Project, RetrieveProjectRequest,
};

/// The most attachments one entity's list may hold. Far beyond real use; a server announcing
/// more, or sending pages without end, is answered with `OPIK_ERR_PROTOCOL` instead of requests
/// and memory without bound.
pub const MAX_ENTRIES: u64 = 100_000;
/// The most bytes of list answers read for one list (on top of each answer's own cap).
pub const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// The id of the project called `name`; `OPIK_ERR_NOT_FOUND` when there is none.
pub async fn project_id(transport: &Transport, name: &str) -> Result<String> {
    let project: Project = transport
        .post_json(
            "projects/retrieve",
            protocol::PROJECTS_RETRIEVE,
            &RetrieveProjectRequest { name },
        )
        .await
        .map_err(|e| {
            if e.status == Status::NotFound {
                Error::new(Status::NotFound, format!("project {name:?} not found"))
                    .with_http_status(e.http_status)
            } else {
                e
            }
        })?;
    if project.id.is_empty() {
        return Err(Error::protocol(
            "projects/retrieve: the project has an empty id",
        ));
    }
    Ok(project.id)
}

/// Every attachment of the entity (all pages), in the server's order.
pub async fn list(
    transport: &Transport,
    project_id: &str,
    entity_type: EntityType,
    entity_id: &str,
) -> Result<Vec<AttachmentInfo>> {
    let endpoint = transport.endpoint(protocol::ATTACHMENT_LIST);
    let mut all: Vec<AttachmentInfo> = Vec::new();
    let mut bytes = 0u64;
    let mut previous_page: Option<(String, String)> = None;
    for page in 1u64.. {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("project_id", project_id)
            .append_pair("entity_type", entity_type.as_str())
            .append_pair("entity_id", entity_id)
            .append_pair("path", &protocol::encode_path(transport.base_url()))
            .append_pair("page", &page.to_string())
            .append_pair("size", &protocol::LIST_PAGE_SIZE.to_string())
            .finish();
        let url = format!("{endpoint}?{query}");
        let got: AttachmentPage = transport.get_json("attachment/list", &url).await?;
        if got.total > MAX_ENTRIES || all.len() as u64 + got.content.len() as u64 > MAX_ENTRIES {
            return Err(Error::protocol(format!(
                "attachment/list: the server announced more than {MAX_ENTRIES} attachments \
                 (total {}, {} read so far); no entity has that many",
                got.total,
                all.len()
            )));
        }
        let (Some(first), Some(last)) = (got.content.first(), got.content.last()) else {
            break;
        };
        // The same page again means the server ignores `page`: following it never ends.
        let bounds = (page_key(first), page_key(last));
        if previous_page.as_ref() == Some(&bounds) {
            return Err(Error::protocol(format!(
                "attachment/list: page {page} repeats page {} (the server ignores paging)",
                page - 1
            )));
        }
        previous_page = Some(bounds);
        bytes += got.content.iter().map(entry_bytes).sum::<u64>();
        if bytes > MAX_LIST_BYTES {
            return Err(Error::protocol(format!(
                "attachment/list: the list's pages hold more than {} MiB; stopped after {} entries",
                MAX_LIST_BYTES >> 20,
                all.len()
            )));
        }
        all.extend(got.content);
        if all.len() as u64 >= got.total {
            break;
        }
    }
    Ok(all)
}

/// File names are unique within an entity; links are not stable (presigned anew each time).
fn page_key(e: &AttachmentInfo) -> String {
    e.file_name.clone()
}

fn entry_bytes(e: &AttachmentInfo) -> u64 {
    (e.file_name.len()
        + e.link.as_deref().map_or(0, str::len)
        + e.mime_type.as_deref().map_or(0, str::len)
        + 64) as u64
}
