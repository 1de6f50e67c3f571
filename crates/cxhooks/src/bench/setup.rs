//! Setting up a run: the nodes (each its own store pool, state and listener) and the tenants
//! with their application, webhooks and publishing token.

use super::BenchArgs;
use cxhooks_server::identity::admin::{self, NewClient};
use cxhooks_server::seal::seal_application_key;
use cxhooks_server::{AppState, Config};
use cxhooks_signing::{MasterKey, PrivateKey};
use cxhooks_store::{
    Application, ApplicationId, Audit, ClientCode, Permissions, ScopeSet, Store, StoreLocation,
    TenantName,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// One tenant's publishing token.
pub(super) struct Publisher {
    pub(super) token: String,
}

/// The running nodes: the sender that stops them, their URLs (the first is the public one) and
/// their server tasks.
pub(super) type Nodes = (
    tokio::sync::watch::Sender<bool>,
    Vec<String>,
    Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
);

/// Starts `args.nodes` nodes on `store` with the bench's configuration.
pub(super) async fn start_nodes(
    store: &Store,
    location: &StoreLocation,
    master: &Arc<MasterKey>,
    args: &BenchArgs,
) -> Result<Nodes, String> {
    let mut config = Config::default();
    config.delivery.allow_private_targets = true; // the receivers are on loopback
    config.keys.rsa_bits = args.rsa_bits;
    config.limits.monthly_notifications_per_client = u64::MAX;
    config.limits.max_webhooks_per_client = u32::MAX;
    config.store.vacuum = !args.no_vacuum;
    if let Some(seconds) = args.delivery_timeout {
        config.delivery.timeout = Duration::from_secs(seconds);
    }
    if let Some(seconds) = args.retention {
        let keep = Duration::from_secs(seconds);
        config.retention.delivered = keep;
        config.retention.failed = keep;
        config.retention.changes = keep;
    }
    // One token per publisher for the whole run, however long (a soak runs 30 minutes).
    config.auth.token_ttl = Duration::from_secs(24 * 3600);
    // Each node: its own store pool, state (dispatcher, registry, node id) and listener. They
    // share one public URL, as nodes behind a load balancer do, so tokens are valid on all.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut listeners = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..args.nodes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        urls.push(format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        ));
        listeners.push(listener);
    }
    config.server.public_url = Some(urls[0].clone());
    let mut servers = Vec::new();
    for (n, listener) in listeners.into_iter().enumerate() {
        let node_store = if n == 0 {
            store.clone()
        } else {
            Store::open(location).await.map_err(|e| e.to_string())?
        };
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let state = AppState::new(node_store, master.clone(), config.clone(), bound)
            .await
            .map_err(|e| e.to_string())?;
        let mut stopped = stopped.clone();
        servers.push(tokio::spawn(cxhooks_server::run(
            state,
            listener,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )));
    }
    Ok((stop, urls, servers))
}

/// How many tenants are set up at once: each makes two RSA keys (its realm's and its
/// application's), which then keep both cores busy.
const SET_UP_AT_ONCE: usize = 4;

/// Sets up tenants `bench0` … (`args.tenants` of them, [`SET_UP_AT_ONCE`] at a time); the
/// first `args.faulty` aim at `faulty_url`. Their publishers, in tenant order.
#[allow(clippy::too_many_arguments)]
pub(super) async fn set_up_tenants(
    store: &Store,
    master: &Arc<MasterKey>,
    http: &reqwest::Client,
    url: &str,
    hook_url: &str,
    faulty_url: Option<&str>,
    args: &BenchArgs,
) -> Result<Vec<Publisher>, String> {
    let mut publishers: Vec<Option<Publisher>> = (0..args.tenants).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    let hooks = Hooks {
        count: args.webhooks,
        ordered: args.ordered,
    };
    let shared = if args.shared_keys {
        let bits = cxhooks_signing::RsaBits::from_bits(args.rsa_bits).map_err(|e| e.to_string())?;
        let made = tokio::task::spawn_blocking(move || {
            Ok::<_, cxhooks_signing::KeyError>(SharedKeys {
                realm: PrivateKey::generate(cxhooks_signing::RsaBits::B2048)?,
                application: PrivateKey::generate(bits)?,
            })
        });
        let made = made.await.map_err(|e| e.to_string())?;
        Some(Arc::new(made.map_err(|e| e.to_string())?))
    } else {
        None
    };
    while next < args.tenants || !running.is_empty() {
        while next < args.tenants && running.len() < SET_UP_AT_ONCE {
            let t = next;
            next += 1;
            let hook_url = faulty_url.filter(|_| t < args.faulty).unwrap_or(hook_url);
            let (store, master, http) = (store.clone(), master.clone(), http.clone());
            let (url, hook_url, shared) = (url.to_owned(), hook_url.to_owned(), shared.clone());
            running.spawn(async move {
                let keys = shared.as_deref();
                let set_up = set_up_tenant(&store, &master, &http, &url, &hook_url, t, hooks, keys);
                (t, set_up.await)
            });
        }
        if let Some(done) = running.join_next().await {
            let (t, publisher) = done.map_err(|e| e.to_string())?;
            publishers[t] = Some(publisher?);
            if (t + 1) % 1000 == 0 {
                eprintln!("bench: {} tenants set up", t + 1);
            }
        }
    }
    Ok(publishers.into_iter().flatten().collect())
}

/// The keys `--shared-keys` makes once for every tenant.
struct SharedKeys {
    realm: PrivateKey,
    application: PrivateKey,
}

/// The webhooks each tenant gets.
#[derive(Clone, Copy)]
struct Hooks {
    count: usize,
    ordered: bool,
}

/// Creates tenant `bench{t}` with a client, an application and `hooks.count` webhooks aimed
/// at `hook_url` (ordered with `--ordered`), and gets the client's token from the node at `url`.
/// With `shared`, the tenant and its application are stored with those keys, sealed for them.
#[allow(clippy::too_many_arguments)]
async fn set_up_tenant(
    store: &Store,
    master: &MasterKey,
    http: &reqwest::Client,
    url: &str,
    hook_url: &str,
    t: usize,
    hooks: Hooks,
    shared: Option<&SharedKeys>,
) -> Result<Publisher, String> {
    let e = |e: admin::IdentityError| e.to_string();
    let tenant = TenantName::parse(&format!("bench{t}")).map_err(|e| e.to_string())?;
    match shared {
        Some(keys) => {
            admin::create_tenant_with_key(store, master, &tenant, true, &keys.realm)
                .await
                .map_err(e)?;
        }
        None => {
            admin::create_tenant(store, master, &tenant, true)
                .await
                .map_err(e)?;
        }
    }
    let new = NewClient {
        name: "bench".into(),
        code: ClientCode::parse("urn:cxhooks/bench").map_err(|e| e.to_string())?,
        scopes: ScopeSet::parse("urn:cx/webhooks:data:manage urn:cx/webhooks:events:publish")
            .map_err(|e| e.to_string())?,
        permissions: Permissions::parse("create=on,read=all,update=all,delete=all")
            .map_err(|e| e.to_string())?,
    };
    let (client, secret) = admin::create_client(store, master, &tenant, new)
        .await
        .map_err(e)?;
    let token = crate::token::client_token(
        http,
        url,
        tenant.as_str(),
        (&client.client_id, &secret),
        None,
    )
    .await?;
    let post = |path: String, body: Value| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("set-up {path} answered {}", r.status()));
            }
            r.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let app = match shared {
        Some(keys) => {
            let id = ApplicationId::new_v4();
            let now = chrono::Utc::now();
            let app = Application {
                tenant: tenant.clone(),
                id,
                name: "bench".into(),
                key_bits: u32::try_from(keys.application.bits()).map_err(|e| e.to_string())?,
                sealed_private_key: seal_application_key(master, &tenant, id, &keys.application),
                public_key: keys.application.public_key().spki_der().to_vec(),
                signature_scheme: Default::default(),
                sealed_standard_secret: None,
                public_jwks: false,
                audit: Audit::new(&client.client_id, now),
            };
            store
                .create_application(&app)
                .await
                .map_err(|e| e.to_string())?;
            id.to_string()
        }
        None => {
            let app = post("/webhooks/v1/applications".into(), json!({"name": "bench"})).await?;
            app["_id"].as_str().unwrap_or_default().to_owned()
        }
    };
    for _ in 0..hooks.count {
        post(
            format!("/webhooks/v1/applications/{app}/webhooks"),
            json!({"url": hook_url, "ordered": hooks.ordered,
                "filters": [{"eventType": "cremployee:updated",
                "condition": "data.touser.tosinglestatusnode eq '1234'"}]}),
        )
        .await?;
    }
    Ok(Publisher { token })
}
