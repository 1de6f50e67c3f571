//! The confirmation after an action: the action redirects with `?done={code}`, and the page it
//! lands on says what was done. Only the fixed codes below are shown; text from the URL never
//! is, so a link cannot make the console say something it did not do.

use maud::{Markup, html};
use serde::Deserialize;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// A client's name, code, scopes or permissions saved.
    ClientSaved,
    /// A client deleted.
    ClientDeleted,
    /// An application created.
    ApplicationCreated,
    /// An application's key pair replaced.
    ApplicationRotated,
    /// A webhook created.
    WebhookCreated,
    /// A webhook saved.
    WebhookSaved,
    /// A webhook enabled.
    WebhookEnabled,
    /// A webhook disabled.
    WebhookDisabled,
    /// A webhook deleted.
    WebhookDeleted,
    /// A bulk recovery started.
    RecoveryStarted,
    /// An additional field defined.
    AdditionalFieldCreated,
    /// An additional field deleted.
    AdditionalFieldDeleted,
    /// An application's JWKS published at its public URL.
    PublicJwksOn,
    /// An application's public JWKS withdrawn.
    PublicJwksOff,
}

const ALL: [(Done, &str, &str); 14] = [
    (
        Done::PublicJwksOn,
        "public-jwks-on",
        "Public JWKS on: anyone can fetch the application's public keys at its JWKS URL, and pick the key by Cx-Signature-Key-Id.",
    ),
    (
        Done::PublicJwksOff,
        "public-jwks-off",
        "Public JWKS off: its URL answers 404.",
    ),
    (Done::ClientSaved, "client-saved", "Client saved."),
    (
        Done::ClientDeleted,
        "client-deleted",
        "Client deleted: its tokens no longer work.",
    ),
    (
        Done::ApplicationCreated,
        "application-created",
        "Application created.",
    ),
    (
        Done::ApplicationRotated,
        "application-rotated",
        "Key pair replaced: deliveries are signed with the new key; the old one stays in the application's JWKS for keys.rotation_grace.",
    ),
    (Done::WebhookCreated, "webhook-created", "Webhook created."),
    (Done::WebhookSaved, "webhook-saved", "Webhook saved."),
    (Done::WebhookEnabled, "webhook-enabled", "Webhook enabled."),
    (
        Done::WebhookDisabled,
        "webhook-disabled",
        "Webhook disabled: nothing is sent to it until it is enabled again.",
    ),
    (
        Done::WebhookDeleted,
        "webhook-deleted",
        "Webhook deleted: its pending deliveries are cancelled.",
    ),
    (
        Done::RecoveryStarted,
        "recovery-started",
        "Recovery started: the failed deliveries are being delivered again, oldest first.",
    ),
    (
        Done::AdditionalFieldCreated,
        "additional-field-created",
        "Additional field defined: conditions can test it now.",
    ),
    (
        Done::AdditionalFieldDeleted,
        "additional-field-deleted",
        "Additional field deleted.",
    ),
];

impl Done {
    /// The code in `?done=`.
    pub fn code(self) -> &'static str {
        ALL.iter().find(|(d, _, _)| *d == self).map_or("", |e| e.1)
    }

    fn message(code: &str) -> Option<&'static str> {
        ALL.iter().find(|(_, c, _)| *c == code).map(|e| e.2)
    }
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

impl DoneQuery {
    /// The confirmation to show, if the code is one of ours.
    pub fn notice(&self) -> Markup {
        match self.done.as_deref().and_then(Done::message) {
            Some(message) => html! { div.notice role="status" { p { (message) } } },
            None => html! {},
        }
    }
}
