//! The matcher: per-tenant, per-event-type buckets; any filter of a webhook matching.

use std::collections::BTreeSet;

use cxhooks_catalog::{Catalog, EventType};
use cxhooks_condition::{Change, CompiledCondition, Filter, Matcher, compile};
use serde_json::{Value, json};

fn filter(event_type: &str, condition: Option<&str>) -> Filter {
    let event_type = EventType::parse(event_type).unwrap();
    let condition = condition.map(|c| {
        compile(c, Catalog::builtin(), event_type.entity())
            .unwrap()
            .0
    });
    Filter {
        event_type,
        condition,
    }
}

fn matched<T: std::hash::Hash + Eq + std::borrow::Borrow<str>>(
    matcher: &Matcher<T, u32>,
    tenant: &str,
    event_type: &str,
    data: Value,
    paths: &[&str],
) -> BTreeSet<u32> {
    let event_type = EventType::parse(event_type).unwrap();
    let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    let change = Change::new(&event_type, "1", &data, &paths);
    let found: Vec<u32> = matcher.matching(tenant, &change).copied().collect();
    let set: BTreeSet<u32> = found.iter().copied().collect();
    assert_eq!(set.len(), found.len(), "a webhook is returned once");
    set
}

#[test]
fn only_webhooks_of_the_changes_tenant_and_type_match() {
    let mut matcher: Matcher<String, u32> = Matcher::new();
    matcher.insert("acme".into(), 1, [filter("cremployee:updated", None)]);
    matcher.insert("acme".into(), 2, [filter("cremployee:created", None)]);
    matcher.insert("other".into(), 3, [filter("cremployee:updated", None)]);
    matcher.insert("acme".into(), 4, [filter("crjob:updated", None)]);
    assert_eq!(
        matched(&matcher, "acme", "cremployee:updated", json!({}), &[]),
        [1].into()
    );
    assert_eq!(
        matched(&matcher, "other", "cremployee:updated", json!({}), &[]),
        [3].into()
    );
    assert_eq!(
        matched(&matcher, "nobody", "cremployee:updated", json!({}), &[]),
        [].into()
    );
    assert_eq!(
        matched(&matcher, "acme", "crmatch:updated", json!({}), &[]),
        [].into()
    );
}

#[test]
fn any_matching_filter_selects_the_webhook_once() {
    let mut matcher: Matcher<&'static str, u32> = Matcher::new();
    let filters = [
        filter("cremployee:updated", Some("data.tostatusnode eq '1'")),
        filter(
            "cremployee:updated",
            Some("metadata.paths has any of ['hascar']"),
        ),
        filter("crjob:created", None),
    ];
    matcher.insert("acme", 7, filters);
    let both = json!({"tostatusnode": 1});
    assert_eq!(
        matched(
            &matcher,
            "acme",
            "cremployee:updated",
            both.clone(),
            &["hascar"]
        ),
        [7].into()
    );
    assert_eq!(
        matched(&matcher, "acme", "cremployee:updated", both, &[]),
        [7].into()
    );
    assert_eq!(
        matched(
            &matcher,
            "acme",
            "cremployee:updated",
            json!({}),
            &["hascar"]
        ),
        [7].into()
    );
    assert_eq!(
        matched(
            &matcher,
            "acme",
            "cremployee:updated",
            json!({}),
            &["notes"]
        ),
        [].into()
    );
    assert_eq!(
        matched(&matcher, "acme", "crjob:created", json!({}), &[]),
        [7].into()
    );
}

#[test]
fn a_filter_without_condition_matches_every_change_of_its_type() {
    let mut matcher: Matcher<&'static str, u32> = Matcher::new();
    let filters = [
        filter("cremployee:updated", Some("data.tostatusnode eq '1'")),
        filter("cremployee:updated", None),
    ];
    matcher.insert("acme", 1, filters);
    assert_eq!(
        matched(&matcher, "acme", "cremployee:updated", json!({}), &[]),
        [1].into()
    );
}

#[test]
fn insert_replaces_and_remove_forgets() {
    let mut matcher: Matcher<String, u32> = Matcher::new();
    assert!(matcher.is_empty());
    assert!(!matcher.insert("acme".into(), 1, [filter("cremployee:updated", None)]));
    assert!(!matcher.insert("acme".into(), 2, [filter("cremployee:updated", None)]));
    assert!(!matcher.insert("beta".into(), 1, [filter("cremployee:updated", None)]));
    assert_eq!(matcher.len(), 3);
    assert!(matcher.insert("acme".into(), 1, [filter("crjob:updated", None)]));
    assert_eq!(matcher.len(), 3);
    assert_eq!(
        matched(&matcher, "acme", "cremployee:updated", json!({}), &[]),
        [2].into()
    );
    assert_eq!(
        matched(&matcher, "acme", "crjob:updated", json!({}), &[]),
        [1].into()
    );
    assert!(matcher.remove("acme", &2));
    assert!(!matcher.remove("acme", &2));
    assert!(!matcher.remove("nobody", &1));
    assert_eq!(
        matched(&matcher, "acme", "cremployee:updated", json!({}), &[]),
        [].into()
    );
    assert!(
        matcher.contains("acme", &1)
            && matcher.contains("beta", &1)
            && !matcher.contains("acme", &2)
    );
    // A webhook without filters is filed but matches nothing.
    assert!(matcher.insert("acme".into(), 1, []));
    assert!(matcher.contains("acme", &1));
    assert_eq!(
        matched(&matcher, "acme", "crjob:updated", json!({}), &[]),
        [].into()
    );
    assert_eq!(matcher.remove_tenant("acme"), 1);
    assert_eq!(matcher.remove_tenant("acme"), 0);
    assert_eq!(matcher.len(), 1);
    assert_eq!(
        matched(&matcher, "beta", "cremployee:updated", json!({}), &[]),
        [1].into()
    );
}

#[test]
fn ids_are_the_servers_own_types() {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    struct WebhookId(u128);
    let mut matcher: Matcher<String, WebhookId> = Matcher::new();
    matcher.insert(
        "acme".to_owned(),
        WebhookId(u128::MAX),
        [filter("crmatch:created", None)],
    );
    let event_type = EventType::parse("crmatch:created").unwrap();
    let data = json!({});
    let change = Change::new(&event_type, "2.3", &data, &[]);
    let found: Vec<&WebhookId> = matcher.matching("acme", &change).collect();
    assert_eq!(found, [&WebhookId(u128::MAX)]);
}

#[test]
fn matcher_and_conditions_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Matcher<String, u128>>();
    shared::<CompiledCondition>();
    shared::<Filter>();
}

/// A small deterministic generator, so the population is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn matching_agrees_with_evaluating_every_filter() {
    let types = ["cremployee:updated", "cremployee:created", "crjob:updated"];
    let conditions = [
        None,
        Some("data.tostatusnode eq '1'"),
        Some("data.tostatusnode in [2, 3]"),
        Some("metadata.paths has any of ['hascar']"),
        Some("not data.hascar eq true"),
        Some("data.tostatusnode eq '1' and metadata.paths has any of ['notes']"),
    ];
    let mut rng = Lcg(7);
    let mut matcher: Matcher<usize, u32> = Matcher::new();
    let mut all: Vec<(usize, u32, Vec<Filter>)> = Vec::new();
    for id in 0..600u32 {
        let tenant = rng.below(20);
        let filters: Vec<Filter> = (0..rng.below(4))
            .map(|_| {
                filter(
                    types[rng.below(types.len())],
                    conditions[rng.below(conditions.len())],
                )
            })
            .collect();
        matcher.insert(tenant, id, filters.clone());
        all.push((tenant, id, filters));
    }
    // Replace and remove some, so the buckets are exercised after updates too.
    for _ in 0..100 {
        let i = rng.below(all.len());
        if rng.below(2) == 0 {
            matcher.remove(&all[i].0, &all[i].1);
            all[i].2 = Vec::new();
            matcher.insert(all[i].0, all[i].1, []);
        } else {
            let f = vec![filter(
                types[rng.below(types.len())],
                conditions[rng.below(conditions.len())],
            )];
            matcher.insert(all[i].0, all[i].1, f.clone());
            all[i].2 = f;
        }
    }
    let datas = [
        json!({}),
        json!({"tostatusnode": 1}),
        json!({"tostatusnode": 3, "hascar": 1}),
    ];
    let pathss: [&[String]; 3] = [
        &[],
        &["hascar".to_owned()],
        &["notes".to_owned(), "hascar".to_owned()],
    ];
    let mut total = 0;
    for tenant in 0..21 {
        for t in types {
            let event_type = EventType::parse(t).unwrap();
            for data in &datas {
                for paths in pathss {
                    let change = Change::new(&event_type, "1", data, paths);
                    let got: BTreeSet<u32> = matcher.matching(&tenant, &change).copied().collect();
                    let want: BTreeSet<u32> = all
                        .iter()
                        .filter(|(tn, _, filters)| {
                            *tn == tenant
                                && filters.iter().any(|f| {
                                    f.event_type == event_type
                                        && f.condition.as_ref().is_none_or(|c| c.matches(&change))
                                })
                        })
                        .map(|(_, id, _)| *id)
                        .collect();
                    assert_eq!(got, want, "tenant {tenant} {t} {data} {paths:?}");
                    total += got.len();
                }
            }
        }
    }
    assert!(
        total > 100,
        "the population should match often enough to mean something: {total}"
    );
}
