//! Micro-benchmarks of the condition language (SPEC §10): parsing, compiling, evaluating one
//! change, and matching one change against 10, 1,000 and 100,000 webhooks over 1,000 tenants.
//!
//! Run: `cargo bench -p cxhooks-condition --bench condition -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cxhooks_catalog::{Catalog, EventType};
use cxhooks_condition::{Change, Filter, Matcher, compile, parse};
use serde_json::{Value, json};

const SEED_CONDITIONS: [&str; 6] = [
    "data.tostatusnode eq '1234' or data.tostatusnode eq '5678'",
    "data.tostatusnode eq '1234' ",
    "data.touser.tosinglestatusnode eq '1234'",
    "data.statusinfo eq '1234'",
    "metadata.paths has any of ['hascar']",
    "metadata.paths has any of ['hascar', 'notes']",
];

const COMPLEX: &str = "(data.touser.tosinglestatusnode in [1001, 1002, 1003] and data.hascar eq true) \
     or not data.touser.lastname startswith 'van' and metadata.paths has any of ['touser.lastname', 'notes']";

/// A candidate record as the record store keeps it, with the user record embedded.
fn candidate() -> Value {
    json!({
        "_id": "1", "hascar": 1, "notes": "Prefers mornings", "modificationdate": "2026-11-22T10:00:00Z",
        "touser": {
            "lastname": "Jansen", "firstname": "Eva", "tosinglestatusnode": 1002,
            "modificationdate": "2026-11-22T10:00:00Z", "emailaddress": "eva@example.org"
        },
        "experiencesincedate": "2019-01-01", "currentsalary": 4200.5, "tocategorynode": 77
    })
}

fn changed_paths() -> Vec<String> {
    [
        "modificationdate",
        "touser",
        "touser.lastname",
        "touser.modificationdate",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("seed conditions (6)", |b| {
        b.iter(|| {
            for source in SEED_CONDITIONS {
                black_box(parse(black_box(source)).unwrap());
            }
        })
    });
    group.bench_function("complex", |b| b.iter(|| parse(black_box(COMPLEX)).unwrap()));
    group.bench_function("compile complex (parse + check + lower)", |b| {
        b.iter(|| compile(black_box(COMPLEX), Catalog::builtin(), "cremployee").unwrap())
    });
    group.finish();
}

fn bench_evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    let event_type = EventType::parse("cremployee:updated").unwrap();
    let data = candidate();
    let paths = changed_paths();
    let change = Change::new(&event_type, "1", &data, &paths);
    for (name, source) in [
        ("eq via altPath", SEED_CONDITIONS[1]),
        ("nested path eq", SEED_CONDITIONS[2]),
        ("metadata.paths has any", SEED_CONDITIONS[5]),
        ("complex", COMPLEX),
    ] {
        let (compiled, _) = compile(source, Catalog::builtin(), "cremployee").unwrap();
        group.bench_function(name, |b| b.iter(|| compiled.matches(black_box(&change))));
    }
    group.finish();
}

/// `n` webhooks, webhook `i` in tenant `i % 1000`; conditions cycle through no condition, the
/// seed conditions and the complex one. With `all_same_type`, every filter selects the
/// change's event type (the worst case: a tenant's whole share is in the change's bucket);
/// otherwise filters spread over the 24 event types of the 8 Carerix entities.
fn population(n: usize, all_same_type: bool) -> Matcher<String, u128> {
    let catalog = Catalog::builtin();
    let types: Vec<EventType> = catalog
        .event_types()
        .filter(|t| !catalog.entity(t.entity()).unwrap().lookup)
        .collect();
    let updated = EventType::parse("cremployee:updated").unwrap();
    let conditions: Vec<Option<&str>> = std::iter::once(None)
        .chain(SEED_CONDITIONS.iter().copied().map(Some))
        .chain([Some(COMPLEX)])
        .collect();
    let mut matcher = Matcher::new();
    for i in 0..n {
        // Scrambled, so that each tenant gets a mix of conditions and types.
        let h = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        let event_type = if all_same_type {
            updated.clone()
        } else {
            types[(h >> 8) % types.len()].clone()
        };
        let condition = conditions[h % conditions.len()]
            .map(|c| compile(c, catalog, event_type.entity()).unwrap().0);
        let filter = Filter {
            event_type,
            condition,
        };
        matcher.insert(format!("tenant-{}", i % 1000), i as u128, [filter]);
    }
    matcher
}

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    let event_type = EventType::parse("cremployee:updated").unwrap();
    let data = candidate();
    let paths = changed_paths();
    let change = Change::new(&event_type, "1", &data, &paths);
    for all_same_type in [true, false] {
        let label = if all_same_type {
            "all on the change's type"
        } else {
            "spread over 24 types"
        };
        for n in [10, 1_000, 100_000] {
            let matcher = population(n, all_same_type);
            group.bench_with_input(BenchmarkId::new(label, n), &matcher, |b, m| {
                b.iter(|| {
                    m.matching(black_box("tenant-0"), black_box(&change))
                        .count()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_evaluate, bench_match);
criterion_main!(benches);
