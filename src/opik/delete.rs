//! Deleting attachments by name (the backend's real `DeleteAttachmentsRequest` body).

use crate::error::Result;
use crate::http::Transport;
use crate::opik::protocol::{self, DeleteRequest, EntityType};

/// Removes the named attachments; names that do not exist are not an error. An empty list sends
/// nothing.
pub async fn delete(
    transport: &Transport,
    project_name: &str,
    entity_type: EntityType,
    entity_id: &str,
    file_names: &[&str],
) -> Result<()> {
    if file_names.is_empty() {
        return Ok(());
    }
    let container_id = crate::opik::list::project_id(transport, project_name).await?;
    let mut unique: Vec<&str> = file_names.to_vec();
    unique.sort_unstable();
    unique.dedup();
    transport
        .post_json_no_content(
            "attachment/delete",
            protocol::ATTACHMENT_DELETE,
            &DeleteRequest {
                file_names: unique,
                entity_type,
                entity_id,
                container_id: &container_id,
            },
        )
        .await
}
