//! The compiled matcher: every webhook's filters, indexed by tenant and event type, so that
//! matching a change looks only at the webhooks of its tenant that filter on its type.
//!
//! The matcher holds no locks; the server keeps it behind whatever sharing it prefers (a
//! `RwLock`, or a copy swapped in on change) and updates it when a webhook is created,
//! replaced, enabled, disabled or deleted.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use cxhooks_catalog::EventType;

use crate::compile::CompiledCondition;
use crate::eval::Change;

/// One filter of a webhook: it matches a change of `event_type` for which `condition` holds
/// (or any change of that type when there is no condition).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The event type the filter selects.
    pub event_type: EventType,
    /// The condition, compiled; `None` selects every change of the type.
    pub condition: Option<CompiledCondition>,
}

/// Webhooks of many tenants, found by change.
///
/// `T` is the tenant key and `W` the webhook id; both are the server's own types. A webhook id
/// need only be unique within its tenant.
#[derive(Debug, Clone)]
pub struct Matcher<T, W> {
    tenants: HashMap<T, Tenant<W>>,
    webhooks: usize,
}

#[derive(Debug, Clone)]
struct Tenant<W> {
    buckets: HashMap<EventType, Vec<Entry<W>>>,
    /// The event types each webhook is filed under, to remove it without scanning buckets.
    webhooks: HashMap<W, Vec<EventType>>,
}

/// A webhook in one bucket: its filters of that bucket's event type, merged.
#[derive(Debug, Clone)]
struct Entry<W> {
    webhook: W,
    /// A filter of this type without condition: the webhook matches every change of the type.
    unconditional: bool,
    conditions: Box<[CompiledCondition]>,
}

impl<W> Entry<W> {
    fn matches(&self, change: &Change<'_>) -> bool {
        self.unconditional || self.conditions.iter().any(|c| c.matches(change))
    }
}

impl<T, W> Default for Matcher<T, W> {
    fn default() -> Self {
        Matcher {
            tenants: HashMap::new(),
            webhooks: 0,
        }
    }
}

impl<T: Hash + Eq, W: Hash + Eq + Clone> Matcher<T, W> {
    /// An empty matcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Files a webhook's filters, replacing those it had. Returns whether it was already there.
    ///
    /// A webhook with no filters is kept (it counts in [`len`](Self::len)) but matches nothing.
    pub fn insert(
        &mut self,
        tenant: T,
        webhook: W,
        filters: impl IntoIterator<Item = Filter>,
    ) -> bool {
        let mut by_type: Vec<(EventType, Entry<W>)> = Vec::new();
        for filter in filters {
            let index = match by_type.iter().position(|(t, _)| *t == filter.event_type) {
                Some(i) => i,
                None => {
                    let entry = Entry {
                        webhook: webhook.clone(),
                        unconditional: false,
                        conditions: Box::new([]),
                    };
                    by_type.push((filter.event_type.clone(), entry));
                    by_type.len() - 1
                }
            };
            let entry = &mut by_type[index].1;
            match filter.condition {
                // Once unconditional, the conditions of that type would never be consulted.
                None => entry.unconditional = true,
                Some(c) if !entry.unconditional => {
                    let mut conditions = std::mem::take(&mut entry.conditions).into_vec();
                    conditions.push(c);
                    entry.conditions = conditions.into_boxed_slice();
                }
                Some(_) => {}
            }
        }
        for (_, entry) in &mut by_type {
            if entry.unconditional {
                entry.conditions = Box::new([]);
            }
        }

        let tenant = self.tenants.entry(tenant).or_insert_with(|| Tenant {
            buckets: HashMap::new(),
            webhooks: HashMap::new(),
        });
        let replaced = tenant.remove(&webhook);
        let types = by_type.iter().map(|(t, _)| t.clone()).collect();
        for (event_type, entry) in by_type {
            tenant.buckets.entry(event_type).or_default().push(entry);
        }
        tenant.webhooks.insert(webhook, types);
        if !replaced {
            self.webhooks += 1;
        }
        replaced
    }

    /// Removes a webhook. Returns whether it was there.
    pub fn remove<Q>(&mut self, tenant: &Q, webhook: &W) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(index) = self.tenants.get_mut(tenant) else {
            return false;
        };
        let removed = index.remove(webhook);
        if index.webhooks.is_empty() {
            self.tenants.remove(tenant);
        }
        if removed {
            self.webhooks -= 1;
        }
        removed
    }

    /// Removes every webhook of a tenant (a deleted tenant, or one whose webhooks feature was
    /// turned off). Returns how many there were.
    pub fn remove_tenant<Q>(&mut self, tenant: &Q) -> usize
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let count = self.tenants.remove(tenant).map_or(0, |t| t.webhooks.len());
        self.webhooks -= count;
        count
    }

    /// The webhooks of `tenant` with a filter that matches `change`, each once, in no
    /// particular order. Looks only at the tenant's webhooks filed under the change's event
    /// type, and allocates nothing.
    pub fn matching<'m, 'c, Q>(
        &'m self,
        tenant: &Q,
        change: &'c Change<'c>,
    ) -> impl Iterator<Item = &'m W> + use<'m, 'c, T, W, Q>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let bucket = self
            .tenants
            .get(tenant)
            .and_then(|t| t.buckets.get(change.event_type))
            .map_or(&[][..], Vec::as_slice);
        bucket
            .iter()
            .filter(move |entry| entry.matches(change))
            .map(|entry| &entry.webhook)
    }

    /// Whether the webhook is filed.
    pub fn contains<Q>(&self, tenant: &Q, webhook: &W) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.tenants
            .get(tenant)
            .is_some_and(|t| t.webhooks.contains_key(webhook))
    }

    /// Number of webhooks filed, over all tenants.
    pub fn len(&self) -> usize {
        self.webhooks
    }

    /// Whether no webhook is filed.
    pub fn is_empty(&self) -> bool {
        self.webhooks == 0
    }
}

impl<W: Hash + Eq> Tenant<W> {
    /// Takes a webhook out of its buckets. A bucket is scanned linearly, which is fine: a
    /// removal is a management operation and a bucket holds one tenant's webhooks of one type.
    fn remove(&mut self, webhook: &W) -> bool {
        let Some(types) = self.webhooks.remove(webhook) else {
            return false;
        };
        for event_type in types {
            if let Some(bucket) = self.buckets.get_mut(&event_type) {
                if let Some(i) = bucket.iter().position(|e| e.webhook == *webhook) {
                    bucket.swap_remove(i);
                }
                if bucket.is_empty() {
                    self.buckets.remove(&event_type);
                }
            }
        }
        true
    }
}
