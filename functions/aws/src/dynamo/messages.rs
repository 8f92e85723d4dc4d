//! The Messages table: what the gateway sent and the statuses Meta reported since.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::Error;
use gateway_core::ports::{MessageRecord, MessageStatus, MessageStore, PhoneNumberId, Wamid};
use gateway_core::tenant::TenantId;

use super::*;

/// Message records live 30 days.
pub const MESSAGE_TTL_SECS: i64 = 30 * 86_400;

#[derive(Clone, Debug)]
pub struct DynamoMessages {
    client: Client,
    table: String,
}

impl DynamoMessages {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoMessages {
            client,
            table: table.into(),
        }
    }
}

fn record_from_item(item: &Item) -> Option<MessageRecord> {
    Some(MessageRecord {
        wamid: Wamid::from_meta(get_s(item, WAMID)?),
        tenant_id: TenantId::new(get_s(item, "tenant_id")?),
        phone_number_id: PhoneNumberId::from_meta(
            get_s(item, "phone_number_id").unwrap_or_default(),
        ),
        recipient: get_s(item, "recipient").unwrap_or_default(),
        callback_url: get_s(item, "callback_url"),
        created_at: get_n(item, "created_at").unwrap_or_default(),
        last_status: get_s(item, "last_status").map(|s| MessageStatus::from_meta(&s)),
        statuses: item
            .get("statuses")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl MessageStore for DynamoMessages {
    async fn put(&self, record: &MessageRecord) -> Result<(), Error> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(WAMID, s(record.wamid.as_str()))
            .item("tenant_id", s(record.tenant_id.as_str()))
            .item("phone_number_id", s(record.phone_number_id.as_str()))
            .item("recipient", s(&record.recipient))
            .item("created_at", n(record.created_at))
            .item("statuses", AttributeValue::M(HashMap::new()))
            .item(TTL_ATTRIBUTE, n(record.created_at + MESSAGE_TTL_SECS));
        if let Some(url) = &record.callback_url {
            put = put.item("callback_url", s(url));
        }
        put.send().await.map_err(unavailable("message write"))?;
        Ok(())
    }

    async fn get(&self, wamid: &str) -> Result<Option<MessageRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(WAMID, s(wamid))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("message read"))?;
        Ok(out.item.as_ref().and_then(record_from_item))
    }

    async fn record_status(
        &self,
        wamid: &str,
        status: &MessageStatus,
        timestamp: i64,
    ) -> Result<Option<MessageRecord>, Error> {
        let first_report = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(WAMID, s(wamid))
            .update_expression("SET statuses.#s = if_not_exists(statuses.#s, :at)")
            .condition_expression("attribute_exists(wamid)")
            .expression_attribute_names("#s", status.as_str())
            .expression_attribute_values(":at", n(timestamp))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let mut record = match first_report {
            Ok(out) => match out.attributes.as_ref().and_then(record_from_item) {
                Some(r) => r,
                None => return Ok(None),
            },
            // The gateway did not send this message: nothing to update.
            Err(e) if is_conditional_failure(&e) => return Ok(None),
            Err(e) => return Err(unavailable("message status update")(e)),
        };
        let rank = status.rank();
        if status.moves_on_from(record.last_status.as_ref()) {
            let forward = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(WAMID, s(wamid))
                .update_expression("SET last_status = :s, last_status_rank = :r")
                .condition_expression(
                    "attribute_not_exists(last_status_rank) OR last_status_rank < :r",
                )
                .expression_attribute_values(":s", s(status.as_str()))
                .expression_attribute_values(":r", n(i64::from(rank)))
                .send()
                .await;
            match forward {
                Ok(_) => record.last_status = Some(status.clone()),
                // A later status landed first: the record stays where it is.
                Err(e) if is_conditional_failure(&e) => {}
                Err(e) => return Err(unavailable("message status update")(e)),
            }
        }
        Ok(Some(record))
    }
}
