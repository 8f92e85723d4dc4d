//! A tenant's destinations: a URL per phone number, a URL for statuses and the fields it
//! wants. Every URL is checked like the webhook URL (HTTPS, public host); a phone number must
//! be the tenant's own.

use std::collections::BTreeMap;

use gateway_core::tenant::{TargetPolicy, TargetUrl, Tenant};

use super::existing_tenant;
use crate::dynamo::DynamoTenants;

/// Changes to a tenant's destinations; what is left out keeps its value.
#[derive(Debug, Clone, Default)]
pub struct DestinationChanges {
    /// `phone_number_id` -> URL, added or replaced.
    pub phones: BTreeMap<String, String>,
    /// Phone numbers whose own URL goes (their events go to the webhook URL again).
    pub remove_phones: Vec<String>,
    /// `Some(None)` removes the statuses URL.
    pub statuses: Option<Option<String>>,
    /// `Some(vec![])` delivers every field again.
    pub fields: Option<Vec<String>>,
}

/// A change field as Meta names them: lower case letters, digits and underscores.
fn valid_field(field: &str) -> bool {
    (1..=64).contains(&field.len())
        && field
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub async fn set_destinations(
    tenants: &DynamoTenants,
    id: &str,
    changes: DestinationChanges,
    policy: TargetPolicy,
) -> anyhow::Result<Tenant> {
    let mut tenant = existing_tenant(tenants, id).await?;
    let mut next = tenant.destinations.clone();
    for phone in &changes.remove_phones {
        anyhow::ensure!(
            next.phones.remove(phone).is_some(),
            "--remove-phone `{phone}`: that number has no URL of its own"
        );
    }
    for (phone, url) in changes.phones {
        anyhow::ensure!(
            tenant.phone_number_ids.contains(&phone),
            "--phone `{phone}`: not one of this tenant's phone numbers (gatewayctl phone add)"
        );
        TargetUrl::parse(&url, policy)
            .map_err(|why| anyhow::anyhow!("--phone {phone}: URL {why}"))?;
        next.phones.insert(phone, url);
    }
    if let Some(statuses) = changes.statuses {
        if let Some(url) = &statuses {
            TargetUrl::parse(url, policy).map_err(|why| anyhow::anyhow!("--statuses-url {why}"))?;
        }
        next.statuses = statuses;
    }
    if let Some(fields) = changes.fields {
        for field in &fields {
            anyhow::ensure!(
                valid_field(field),
                "--fields `{field}` is not a webhook field name"
            );
        }
        next.fields = fields;
    }
    tenant.destinations = next;
    tenants.put_tenant(&tenant).await?;
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_metas_shape() {
        assert!(valid_field("messages"));
        assert!(valid_field("message_template_status_update"));
        for bad in ["", "Messages", "a b", "x;y", &"a".repeat(65)] {
            assert!(!valid_field(bad), "{bad}");
        }
    }
}
