//! Who is calling: the workspace and the key of an authenticated request.

use callforce_store::{ApiKeyId, WorkspaceId};

/// Who is calling: a front door puts it on every authenticated request, so that every
/// operation reads and writes only its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The workspace the API key belongs to.
    pub workspace: WorkspaceId,
    /// The stored key used, or `None` for the key from `CALLFORCE_API_KEY`.
    pub key: Option<ApiKeyId>,
}
