//! `DELETE /data/v1/{entity}/{id}`, and with `?erase=true` an erasure (docs/records.md,
//! Erasure): the record's delete, its traces erased in the same transaction.

use super::records::{
    WRITE_ATTEMPTS, back_off, busy, commit, entity, not_found, parse_stored, record_id, stale,
};
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cxhooks_catalog::Action;
use cxhooks_store::{RecordWrite, Scope};

/// `?erase=` of a delete.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true`: erase the record (GDPR art. 17): its changes' stored data, its deliveries'
    /// payloads and receivers' answers in the request log, and its idempotency answers go with
    /// it, and the `{entity}:deleted` notification carries `metadata.erased: true`.
    #[param(value_type = Option<bool>)]
    pub erase: Option<String>,
}

/// Delete a record; publishes `{entity}:deleted` with the record as it was. With
/// `?erase=true`, erases it and its traces.
#[utoipa::path(delete, path = "/data/v1/{entity}/{id}", tag = "records",
    params(("entity" = String, Path), ("id" = String, Path), DeleteQuery),
    responses((status = 204, description = "deleted"), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn delete_record(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_name, id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let erase = match query.erase.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(crate::service::list::bad(
                "?erase",
                format!("'{other}' is not true or false: ?erase=true erases the record"),
            ));
        }
    };
    let entity = entity(&entity_name)?;
    let n = record_id(&id).ok_or_else(|| not_found(&entity.name, &id))?;
    for attempt in 0..WRITE_ATTEMPTS {
        let Some(stored) = state
            .store
            .record(&principal.tenant, &entity.name, n)
            .await?
        else {
            // Deleted before (its `deleted` change kept the record) or only ever published:
            // its traces are erased all the same; nobody is notified again.
            if erase
                && state
                    .store
                    .erase_traces(&principal.tenant, &entity.name, n)
                    .await?
            {
                checkpoint(&state).await;
                return Ok(StatusCode::NO_CONTENT);
            }
            return Err(not_found(&entity.name, &id));
        };
        let old = parse_stored(&stored)?;
        let write = RecordWrite::Delete {
            entity: entity.name.clone(),
            id: n,
            version: stored.version,
            erase,
        };
        match commit(
            &state,
            &principal.tenant,
            Action::Deleted,
            (Some(&old), None),
            &[],
            write,
        )
        .await
        {
            Ok(()) => {
                if erase {
                    checkpoint(&state).await;
                }
                return Ok(StatusCode::NO_CONTENT);
            }
            Err(e) if stale(&e) => back_off(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy())
}

/// After an erasure: the WAL still holds the pages as they were; write them back and empty it.
/// The erasure is committed: a checkpoint that cannot finish is logged, not answered.
async fn checkpoint(state: &AppState) {
    match state.store.checkpoint().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "after an erasure, readers kept the WAL from being emptied: it is at the next checkpoint"
        ),
        Err(e) => tracing::warn!(error = %e, "after an erasure, the WAL checkpoint failed"),
    }
}
