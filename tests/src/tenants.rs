//! Tenants the tests create, through the tenant use cases (`TenantAdmin`), owning the
//! fixtures' accounts or others.

use gateway_aws::admin::Admin;
use gateway_core::admin::{NewTenant, TenantSpec};
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::OwnerKind;

use crate::{OTHER_PHONE, OTHER_WABA, PHONE_NUMBER_ID, Stack, WABA_ID};

/// A second tenant owning [`OTHER_PHONE`] and [`OTHER_WABA`], with a webhook nobody serves.
pub async fn other_tenant(stack: &Stack) -> NewTenant {
    let admin = stack.admin();
    let other = admin
        .create(TenantSpec {
            name: "other".into(),
            webhook_url: "https://other.example/hook".into(),
            format: DeliveryFormat::Meta,
            callback_domains: vec![],
        })
        .await
        .expect("the other tenant is created");
    for (kind, owned) in [
        (OwnerKind::Phone, OTHER_PHONE),
        (OwnerKind::Waba, OTHER_WABA),
    ] {
        admin
            .assign(kind, owned, &other.tenant_id)
            .await
            .expect("the other tenant's account is recorded");
    }
    other
}

/// Creates a tenant owning the fixtures' phone number and WABA, delivering to `url`.
pub async fn tenant_for_fixtures(stack: &Stack, url: &str, format: DeliveryFormat) -> NewTenant {
    tenant_owning(&stack.admin(), PHONE_NUMBER_ID, WABA_ID, url, format).await
}

/// Creates a tenant owning `phone` and `waba`, delivering to `url`.
pub async fn tenant_owning(
    admin: &Admin,
    phone: &str,
    waba: &str,
    url: &str,
    format: DeliveryFormat,
) -> NewTenant {
    let created = admin
        .create(TenantSpec {
            name: "acme".into(),
            webhook_url: url.into(),
            format,
            callback_domains: vec!["localhost".into()],
        })
        .await
        .unwrap();
    let id = &created.tenant_id;
    admin.assign(OwnerKind::Phone, phone, id).await.unwrap();
    admin.assign(OwnerKind::Waba, waba, id).await.unwrap();
    created
}
