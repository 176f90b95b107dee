//! Listing: project name → id (`projects/retrieve`), then every page of `attachment/list`.

use crate::error::{Error, Result, Status};
use crate::protocol::{
    self, AttachmentInfo, AttachmentPage, EntityType, Project, RetrieveProjectRequest,
};
use crate::transport::Transport;

/// Safety net against a server whose `total` never matches its pages.
const MAX_PAGES: u32 = 100_000;

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
    for page in 1..=MAX_PAGES {
        let url = reqwest::Url::parse_with_params(
            &endpoint,
            &[
                ("project_id", project_id),
                ("entity_type", entity_type.as_str()),
                ("entity_id", entity_id),
                ("path", transport.path_param()),
                ("page", &page.to_string()),
                ("size", &protocol::LIST_PAGE_SIZE.to_string()),
            ],
        )
        .map_err(|e| Error::internal(format!("attachment/list: cannot build the URL: {e}")))?;
        let got: AttachmentPage = transport.get_json("attachment/list", url.as_str()).await?;
        let empty = got.content.is_empty();
        all.extend(got.content);
        if empty || all.len() as u64 >= got.total {
            break;
        }
    }
    Ok(all)
}
