//! keepalived.conf into the draft, and a revision out as keepalived.conf.
//!
//! The client sends the main file and every file it includes (a server
//! never reads its own filesystem on a client's behalf); includes resolve
//! among the files sent, relative to the including one, as keepalived does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Caller, Core, DraftView, Error, Precondition, Result};
use crate::keepalived::{Bundle, LeftOut};
use crate::model::ValidationError;

/// A keepalived.conf and the files it includes.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepalivedImport {
    /// The path of the main file, as a key of `files`.
    #[schema(example = "/etc/keepalived/keepalived.conf")]
    pub main: String,
    /// Every file by the path it was read from; `include` patterns are
    /// matched against these paths.
    pub files: BTreeMap<String, String>,
    /// Refuse the import when anything would be left out.
    #[serde(default)]
    pub strict: bool,
}

/// The draft after the import, and what the spec could not carry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeepalivedImported {
    pub draft: DraftView,
    /// Statements of the files that the spec does not carry, with why.
    pub left_out: Vec<LeftOut>,
}

impl Core {
    /// Replaces the draft with the virtual servers of a keepalived.conf.
    pub async fn import_keepalived(
        &self,
        caller: &Caller,
        cluster: &str,
        request: &KeepalivedImport,
        precondition: &Precondition,
    ) -> Result<KeepalivedImported> {
        let bundle = Bundle {
            files: request.files.clone(),
        };
        if !bundle.files.contains_key(&request.main) {
            return Err(Error::invalid(
                "main",
                format!("{} is not among the files sent", request.main),
            ));
        }
        let edited = self
            .edit_draft(
                caller,
                cluster,
                precondition,
                "draft.import.keepalived",
                cluster.to_string(),
                |draft| {
                    let imported = crate::keepalived::import(&bundle, &request.main)
                        .map_err(|err| Error::Invalid(err.into()))?;
                    if request.strict && !imported.left_out.is_empty() {
                        let list: Vec<String> = imported
                            .left_out
                            .iter()
                            .map(|item| item.to_string())
                            .collect();
                        return Err(Error::Invalid(ValidationError::new(
                            "left_out",
                            format!(
                                "--strict: {} statement(s) would be left out:\n{}",
                                list.len(),
                                list.join("\n")
                            ),
                        )));
                    }
                    // keepalived.conf carries no host settings: the draft keeps its own.
                    let spec = imported.spec.with_host(draft.host().clone())?;
                    Ok((spec, imported.left_out))
                },
            )
            .await?;
        Ok(KeepalivedImported {
            draft: self.get_draft(cluster).await?,
            left_out: edited.value,
        })
    }

    /// Revision `number` as keepalived.conf.
    pub async fn export_revision_keepalived(&self, cluster: &str, number: i64) -> Result<String> {
        let spec = self.revision_spec(cluster, number).await?;
        Ok(crate::keepalived::render(
            &spec,
            &format!("{cluster}, revision {number}"),
        ))
    }
}
