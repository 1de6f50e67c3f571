//! With `--attachments`: the attachments (`crattachment`) of the replicated records, each with
//! its file, kept while its owner is in the replica. The sync's webhook also selects attachment
//! events of the entity's records; each notification, and each attachment found after a pass,
//! is fetched and settled: kept with its file if its owner is replicated, removed if not.

use crate::api::Api;
use crate::replica::Replica;
use base64::Engine as _;
use serde_json::{Value, json};

/// The attachment entity.
pub const ENTITY: &str = "crattachment";

/// The field of an attachment that names its owner, for each entity attachments belong to.
pub const OWNERS: [(&str, &str); 4] = [
    ("cremployee", "toemployee"),
    ("cruser", "touser"),
    ("crvacancy", "tovacancy"),
    ("crjob", "tojob"),
];

/// The field naming an owner of `entity`, if attachments belong to it.
pub fn owner_field(entity: &str) -> Option<&'static str> {
    OWNERS.iter().find(|(e, _)| *e == entity).map(|(_, f)| *f)
}

/// The webhook filters that notify every change of an attachment of a record, including the
/// update that takes its owner away.
pub(crate) fn filters(field: &str) -> [Value; 3] {
    let owned = format!("data.{field} exists");
    let leaving = format!("{owned} or metadata.paths has any of ['{field}']");
    [
        ("created", &owned),
        ("updated", &leaving),
        ("deleted", &owned),
    ]
    .map(|(action, c)| json!({"eventType": format!("{ENTITY}:{action}"), "condition": c}))
}

/// An owner reference as text (a number or a string).
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Makes the replica agree on attachment `id`: stored with its file while its owner (through
/// `field`) is a replicated record of `entity`, removed otherwise.
pub(crate) async fn settle(
    api: &Api,
    replica: &Replica,
    (entity, field): (&str, &str),
    id: &str,
) -> Result<&'static str, String> {
    let path = format!("/data/v1/{ENTITY}/{id}");
    let (status, record) = api
        .call(reqwest::Method::GET, &path, None)
        .await
        .map_err(|e| e.to_string())?;
    let owner = match status {
        200 => id_text(&record[field]),
        404 => None,
        other => return Err(format!("fetching {ENTITY} {id} answered {other}")),
    };
    let kept = match &owner {
        Some(o) => replica.has(entity, o).await.map_err(|e| e.to_string())?,
        None => false,
    };
    let (true, Some(owner)) = (kept, owner) else {
        replica
            .delete_attachments(Some(id), None)
            .await
            .map_err(|e| e.to_string())?;
        return Ok("removed");
    };
    let file = api
        .bytes(&format!("{path}/content"))
        .await
        .map_err(|e| e.to_string())?
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
    replica
        .upsert_attachment(id, &owner, &record.to_string(), file.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    Ok("stored")
}

/// Settles every attachment of a record of `entity` (after a pass; then removes those the
/// source no longer has), or of record `owner` only (newly replicated): how many it stored.
pub(crate) async fn copy(
    api: &Api,
    replica: &Replica,
    (entity, field): (&str, &str),
    owner: Option<&str>,
) -> Result<usize, String> {
    let filter = match owner {
        None => format!("data.{field} exists"),
        Some(o) if !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()) => {
            format!("data.{field} eq {o}")
        }
        Some(o) => format!("data.{field} eq '{}'", o.replace('\'', "''")),
    };
    let mut stored = Vec::new();
    for item in api
        .all_records(ENTITY, &filter)
        .await
        .map_err(|e| e.to_string())?
    {
        if let Some(id) = item["_id"].as_str()
            && settle(api, replica, (entity, field), id).await? == "stored"
        {
            stored.push(id.to_owned());
        }
    }
    // After a pass, an attachment kept here that the source no longer lists was deleted
    // while no sync ran.
    if owner.is_none() {
        for (id, ..) in replica.attachments().await.map_err(|e| e.to_string())? {
            if !stored.contains(&id) {
                replica
                    .delete_attachments(Some(&id), None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(stored.len())
}
