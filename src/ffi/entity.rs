//! `opik_entity_type`: what an attachment belongs to.

use crate::error::{Error, Result};
use crate::opik::protocol::EntityType;

/// What an attachment belongs to: `OPIK_ENTITY_TRACE` or `OPIK_ENTITY_SPAN`. Any other value is
/// `OPIK_ERR_INVALID_ARGUMENT`.
pub type opik_entity_type = i32;
/// A trace.
pub const OPIK_ENTITY_TRACE: opik_entity_type = 0;
/// A span.
pub const OPIK_ENTITY_SPAN: opik_entity_type = 1;

/// `opik_entity_type` from C: unknown values are an invalid argument, never an enum transmute.
pub(crate) fn entity_type_arg(value: i32) -> Result<EntityType> {
    match value {
        0 => Ok(EntityType::Trace),
        1 => Ok(EntityType::Span),
        v => Err(Error::invalid(format!(
            "entity type {v} is neither OPIK_ENTITY_TRACE (0) nor OPIK_ENTITY_SPAN (1)"
        ))),
    }
}
