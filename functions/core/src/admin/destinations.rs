//! A tenant's destinations: a URL per phone number, a URL for statuses and the fields it
//! wants. Every URL is checked like the webhook URL (HTTPS, public host); a phone number must
//! be the tenant's own.

use std::collections::BTreeMap;

use super::{AdminError, Entropy, TenantAdmin, TenantWriter, invalid};
use crate::tenant::Tenant;
use crate::time::Clock;

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
pub(super) fn valid_field(field: &str) -> bool {
    (1..=64).contains(&field.len())
        && field
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl<W: TenantWriter, C: Clock, R: Entropy> TenantAdmin<W, C, R> {
    pub async fn set_destinations(
        &self,
        id: &str,
        changes: DestinationChanges,
    ) -> Result<Tenant, AdminError> {
        let mut tenant = self.existing(id).await?;
        let mut next = tenant.destinations.clone();
        for phone in &changes.remove_phones {
            if next.phones.remove(phone).is_none() {
                return Err(invalid(
                    "remove_phone",
                    format!("`{phone}`: that number has no URL of its own"),
                ));
            }
        }
        for (phone, url) in changes.phones {
            if !tenant.phone_number_ids.contains(&phone) {
                return Err(invalid(
                    "phone",
                    format!("`{phone}`: not one of this tenant's phone numbers"),
                ));
            }
            self.url("phone", &url).map_err(|e| match e {
                AdminError::Invalid { message, .. } => {
                    invalid("phone", format!("{phone}: URL {message}"))
                }
                other => other,
            })?;
            next.phones.insert(phone, url);
        }
        if let Some(statuses) = changes.statuses {
            if let Some(url) = &statuses {
                self.url("statuses_url", url)?;
            }
            next.statuses = statuses;
        }
        if let Some(fields) = changes.fields {
            if let Some(bad) = fields.iter().find(|f| !valid_field(f)) {
                return Err(invalid(
                    "fields",
                    format!("`{bad}` is not a webhook field name"),
                ));
            }
            next.fields = fields;
        }
        tenant.destinations = next;
        self.tenants.put_tenant(&tenant).await?;
        Ok(tenant)
    }
}
