//! Counting publishes against their clients' monthly quotas, one publish or a group at a
//! time: which deliveries are past the quota.

use super::accept::GroupView;
use super::{DeliveryStatus, NewDelivery};
use crate::model::from_micros;

/// The month a usage count belongs to (`2026-11`).
pub fn month_of(us: i64) -> String {
    from_micros(us).format("%Y-%m").to_string()
}

/// Per client, in order of first appearance: how many of `deliveries` it owns.
pub(crate) fn client_counts(deliveries: &[NewDelivery]) -> Vec<(&str, i64)> {
    let mut clients: Vec<(&str, i64)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for d in deliveries {
        match index.entry(d.client_id.as_str()) {
            std::collections::hash_map::Entry::Occupied(at) => clients[*at.get()].1 += 1,
            std::collections::hash_map::Entry::Vacant(at) => {
                at.insert(clients.len());
                clients.push((&d.client_id, 1));
            }
        }
    }
    clients
}

/// The stored status of each of a publish's deliveries, given each client's count (`n`) in it
/// and its monthly total once they are counted: an client's last deliveries are the ones past
/// its quota.
pub(crate) fn quota_statuses(
    deliveries: &[NewDelivery],
    totals: &[(&str, i64, i64)],
    quota: u64,
) -> Vec<DeliveryStatus> {
    let quota = i64::try_from(quota).unwrap_or(i64::MAX);
    let mut statuses: Vec<DeliveryStatus> = deliveries
        .iter()
        .map(|d| {
            if d.held {
                DeliveryStatus::Held
            } else {
                DeliveryStatus::Pending
            }
        })
        .collect();
    for (client, n, total) in totals {
        let mut excess = (total - quota).clamp(0, *n);
        for (i, d) in deliveries.iter().enumerate().rev() {
            if excess == 0 {
                break;
            }
            if d.client_id == *client {
                statuses[i] = DeliveryStatus::QuotaExceeded;
                excess -= 1;
            }
        }
    }
    statuses
}

/// A usage count a group of publishes adds to, `(tenant, client, month)`, with how many of the
/// group's deliveries it gets.
pub(crate) type UsageKey<'a> = (&'a str, &'a str, &'a str, i64);

/// A usage count as the upsert returns it: tenant, client, month, count.
pub(crate) type UsageCount = (String, String, String, i64);

/// How a group of publishes counts against quotas: each publish's clients (as
/// [`client_counts`]), and the group's usage keys in order of first appearance, with where each
/// key is in that list.
pub(crate) struct GroupCount<'a> {
    clients: Vec<Vec<(&'a str, i64)>>,
    pub(crate) keys: Vec<UsageKey<'a>>,
    index: std::collections::HashMap<(&'a str, &'a str, &'a str), usize>,
}

impl<'a> GroupCount<'a> {
    pub(crate) fn new(group: &'a GroupView<'a>) -> Self {
        let clients: Vec<Vec<(&str, i64)>> = group
            .accepts
            .iter()
            .map(|a| client_counts(a.deliveries))
            .collect();
        let mut keys: Vec<UsageKey<'a>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for ((item, month), clients) in group.items.iter().zip(&group.months).zip(&clients) {
            for (client, n) in clients {
                let key = (item.tenant.as_str(), *client, month.as_str());
                let k = *index.entry(key).or_insert_with(|| {
                    keys.push((key.0, key.1, key.2, 0));
                    keys.len() - 1
                });
                keys[k].3 += n;
            }
        }
        Self {
            clients,
            keys,
            index,
        }
    }

    /// Each publish's delivery statuses, given every key's count once the whole group was
    /// added (`counted`: tenant, client, month, count): as if the publishes had been counted one
    /// after the other, in order.
    pub(crate) fn statuses(
        &self,
        group: &GroupView<'_>,
        counted: &[UsageCount],
    ) -> Result<Vec<Vec<DeliveryStatus>>, sqlx::Error> {
        let (items, accepts, months) = (group.items, &group.accepts, &group.months);
        // Each key's count before the group: its total now, less the group's deliveries.
        let mut before: Vec<Option<i64>> = vec![None; self.keys.len()];
        for (tenant, client, month, count) in counted {
            if let Some(&k) = self
                .index
                .get(&(tenant.as_str(), client.as_str(), month.as_str()))
            {
                before[k] = Some(count - self.keys[k].3);
            }
        }
        let mut running = before
            .into_iter()
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| sqlx::Error::Protocol("a usage count was not returned".into()))?;
        let mut statuses = Vec::with_capacity(items.len());
        for (((item, accept), month), clients) in
            items.iter().zip(accepts).zip(months).zip(&self.clients)
        {
            let mut totals = Vec::with_capacity(clients.len());
            for (client, n) in clients {
                let k = self.index[&(item.tenant.as_str(), *client, month.as_str())];
                running[k] += n;
                totals.push((*client, *n, running[k]));
            }
            statuses.push(quota_statuses(accept.deliveries, &totals, accept.quota));
        }
        Ok(statuses)
    }
}
