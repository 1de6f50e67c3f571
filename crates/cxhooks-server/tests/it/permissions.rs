//! The Webhooks permission matrix for each verb, scopes per resource, and two tenants side by side.

use crate::harness::*;
use cxhooks_store::testing::Backend;
use serde_json::json;

/// For `read`, `update` and `delete` at none/owner/all: what another client may do to the
/// owner's application and webhook, and to its own.
async fn permission_matrix_for_each_verb(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let (_, owner) = app
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;

    for access in ["none", "owner", "all"] {
        let perms = format!("create=on,read={access},update={access},delete={access}");
        let (_, other) = app.client_token("acme", ALL_SCOPES, &perms).await;
        let theirs = app.application(&owner, "theirs").await;
        let their_hook = app.webhook(&owner, &theirs).await;
        let mine = app.application(&other, "mine").await;
        // A webhook is created only in an application the client may read: with read=none, not
        // even in its own; the owner adds it there.
        let my_hook = if access == "none" {
            app.webhook(&owner, &mine).await
        } else {
            app.webhook(&other, &mine).await
        };
        let app_path = |id: &str| format!("/webhooks/v1/applications/{id}");
        let hook_path = |a: &str, h: &str| format!("/webhooks/v1/applications/{a}/webhooks/{h}");
        let expect = |own: bool| -> u16 {
            match (access, own) {
                ("all", _) | ("owner", true) => 200,
                _ => 403,
            }
        };

        for (path, own, hook) in [
            (app_path(&theirs), false, false),
            (app_path(&mine), true, false),
            (hook_path(&theirs, &their_hook), false, true),
            (hook_path(&mine, &my_hook), true, true),
        ] {
            // read
            let a = app.call("GET", &path, &other, None).await;
            assert_eq!(
                a.status,
                expect(own),
                "read={access} own={own} {path}: {}",
                a.text
            );
            if a.status == 403 {
                assert_eq!(a.body["permission"], "read");
                assert!(
                    a.body["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("permission read is {access}")),
                    "{}",
                    a.text
                );
            }
            // update
            let patch = if hook {
                json!({"url": "https://example.com/changed"})
            } else {
                json!({"name": "changed"})
            };
            let a = app.json("PATCH", &path, &other, &patch).await;
            assert_eq!(
                a.status,
                expect(own),
                "update={access} own={own} {path}: {}",
                a.text
            );
            if a.status == 403 {
                assert_eq!(a.body["permission"], "update");
            }
        }
        // Actions that need update: enable/disable, rotate-secret.
        let a = app
            .call(
                "POST",
                &format!("{}/disable", hook_path(&theirs, &their_hook)),
                &other,
                None,
            )
            .await;
        assert_eq!(a.status, expect(false), "disable with update={access}");
        let a = app
            .call(
                "POST",
                &format!("{}/rotate-secret", app_path(&theirs)),
                &other,
                None,
            )
            .await;
        assert_eq!(a.status, expect(false), "rotate with update={access}");

        // Lists: none is 403, owner sees its own, all sees both.
        let list = app
            .call("GET", "/webhooks/v1/applications", &other, None)
            .await;
        match access {
            "none" => assert_eq!(list.status, 403),
            "owner" => {
                let ids: Vec<_> = list.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["_id"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(ids, vec![mine.as_str()]);
            }
            _ => assert!(list.body["items"].as_array().unwrap().len() >= 2),
        }

        // delete (last: it removes the objects)
        let want = |own| if expect(own) == 200 { 204 } else { 403 };
        let a = app
            .call("DELETE", &hook_path(&theirs, &their_hook), &other, None)
            .await;
        assert_eq!(a.status, want(false), "delete={access} theirs");
        let a = app
            .call("DELETE", &hook_path(&mine, &my_hook), &other, None)
            .await;
        assert_eq!(a.status, want(true), "delete={access} mine");
        let a = app.call("DELETE", &app_path(&theirs), &other, None).await;
        assert_eq!(a.status, want(false), "delete={access} their app");
    }

    // create: off
    let (_, no_create) = app
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=off,read=all,update=all,delete=all",
        )
        .await;
    let a = app
        .json(
            "POST",
            "/webhooks/v1/applications",
            &no_create,
            &json!({"name": "x"}),
        )
        .await;
    assert_problem(&a, 403, "", "create: off");
    assert_eq!(a.body["permission"], "create");
    let some_app = app.application(&owner, "open").await;
    let body = json!({"url": "https://example.com", "filters": [{"eventType": "crjob:created"}]});
    let a = app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{some_app}/webhooks"),
            &no_create,
            &body,
        )
        .await;
    assert_eq!(a.status, 403);
}

async fn scopes_per_resource(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let perms = "create=on,read=all,update=all,delete=all";
    let (_, full) = app.client_token("acme", ALL_SCOPES, perms).await;
    let (_, apps_only) = app
        .client_token("acme", "urn:cx/webhooks:data/applications:manage", perms)
        .await;
    let (_, hooks_only) = app
        .client_token("acme", "urn:cx/webhooks:data/webhooks:manage", perms)
        .await;
    let (_, records_only) = app
        .client_token("acme", "urn:cx/cx5Wrapper:data:manage", perms)
        .await;
    let app_id = app.application(&full, "a").await;
    let hooks = format!("/webhooks/v1/applications/{app_id}/webhooks");

    // Applications scope: applications yes, webhooks no.
    assert_eq!(app.application(&apps_only, "b").await.len(), 36);
    let a = app.call("GET", &hooks, &apps_only, None).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer realm=\"cxhooks\", error=\"insufficient_scope\", scope=\"urn:cx/webhooks:data/webhooks:manage\""
    );
    // Webhooks scope: webhooks yes, reading the application yes, changing it no.
    app.webhook(&hooks_only, &app_id).await;
    assert_eq!(
        app.call(
            "GET",
            &format!("/webhooks/v1/applications/{app_id}"),
            &hooks_only,
            None
        )
        .await
        .status,
        200
    );
    let a = app
        .json(
            "POST",
            "/webhooks/v1/applications",
            &hooks_only,
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body["requiredScope"],
        "urn:cx/webhooks:data/applications:manage"
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/webhooks/v1/applications/{app_id}"),
            &hooks_only,
            None
        )
        .await
        .status,
        403
    );
    // Neither: everything 403, naming the scope.
    let a = app
        .call("GET", "/webhooks/v1/applications", &records_only, None)
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body["tokenScopes"],
        json!(["urn:cx/cx5Wrapper:data:manage"])
    );
    // The broad scope implies both.
    assert_eq!(app.call("GET", &hooks, &full, None).await.status, 200);
    // No token at all.
    assert_eq!(
        app.http
            .get(format!("{}{hooks}", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn two_tenants_side_by_side(backend: Backend) {
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    app.tenant("beta").await;
    let perms = "create=on,read=all,update=all,delete=all";
    let (_, acme) = app.client_token("acme", ALL_SCOPES, perms).await;
    let (_, beta) = app.client_token("beta", ALL_SCOPES, perms).await;
    let acme_app = app.application(&acme, "acme app").await;
    let acme_hook = app.webhook(&acme, &acme_app).await;
    let beta_app = app.application(&beta, "beta app").await;

    // Each tenant lists only its own.
    let list = app
        .call("GET", "/webhooks/v1/applications", &beta, None)
        .await;
    let ids: Vec<_> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![beta_app.as_str()]);
    // Another tenant's objects are 404 for every verb, never 403.
    let app_path = format!("/webhooks/v1/applications/{acme_app}");
    let hook_path = format!("{app_path}/webhooks/{acme_hook}");
    for (method, path) in [
        ("GET", app_path.clone()),
        ("PATCH", app_path.clone()),
        ("DELETE", app_path.clone()),
        ("POST", format!("{app_path}/rotate-secret")),
        ("GET", format!("{app_path}/webhooks")),
        ("POST", format!("{app_path}/webhooks")),
        ("GET", hook_path.clone()),
        ("PUT", hook_path.clone()),
        ("PATCH", hook_path.clone()),
        ("DELETE", hook_path.clone()),
        ("POST", format!("{hook_path}/enable")),
    ] {
        let a = app.call(method, &path, &beta, Some(r#"{"name": "x", "url": "https://e.com", "filters": [{"eventType": "crjob:created"}]}"#)).await;
        assert_eq!(a.status, 404, "{method} {path}: {}", a.text);
        assert!(!a.text.contains("acme"));
    }
    // Nothing changed for acme.
    let a = app.call("GET", &hook_path, &acme, None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["url"], "https://example.com/hook");
    // A webhook of beta cannot be created under acme's application.
    assert_eq!(
        app.call(
            "GET",
            &format!("/webhooks/v1/applications/{beta_app}/webhooks/{acme_hook}"),
            &beta,
            None
        )
        .await
        .status,
        404
    );
}

/// A client that may read only its own applications can do nothing to another client's either:
/// neither add a webhook to it (which would receive its events, signed with its key) nor
/// redeliver or ping its events. In its own application it can.
async fn owner_readers_cannot_act_in_others_applications(backend: Backend) {
    let receiver = crate::receiver::TestReceiver::ok().await;
    let s = crate::delivery::setup(backend, crate::delivery::config(), &receiver.url).await;
    let app = &s.app;
    let perms = "create=on,read=owner,update=owner,delete=owner";
    let (_, other) = app.client_token("acme", ALL_SCOPES, perms).await;
    assert_eq!(
        s.publish(&crate::delivery::candidate_change("1"))
            .await
            .status,
        202
    );
    receiver.wait_for(1).await;
    let event = s.log("").await[0]["_id"].as_str().unwrap().to_owned();
    let theirs = format!("/webhooks/v1/applications/{}", s.app_id);
    let hook = json!({"url": receiver.url, "filters": [{"eventType": "crjob:created"}]});

    let a = app.call("GET", &theirs, &other, None).await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = app
        .json("POST", &format!("{theirs}/webhooks"), &other, &hook)
        .await;
    assert_problem(&a, 403, "", "permission read is owner");
    assert_eq!(a.body["permission"], "read");
    let redeliver = format!("{theirs}/events/{event}/redeliver");
    let a = app.call("POST", &redeliver, &other, None).await;
    assert_eq!(a.status, 403, "redeliver: {}", a.text);
    let ping = format!("{theirs}/webhooks/{}/test", s.hook_id);
    let a = app.call("POST", &ping, &other, None).await;
    assert_eq!(a.status, 403, "ping: {}", a.text);
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing sent for the refused calls"
    );

    // Its own application: all of it works.
    let mine = app.application(&other, "mine").await;
    let a = app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{mine}/webhooks"),
            &other,
            &hook,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
}

cxhooks_store::both_backends!(
    owner_readers_cannot_act_in_others_applications,
    permission_matrix_for_each_verb,
    scopes_per_resource,
    two_tenants_side_by_side
);
