//! Creates the template's DynamoDB tables, SQS queues and S3 bucket in the emulator, read from
//! template.yaml itself: key schemas, TTL attributes, queue attributes and redrive policies.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_norway::Value;

/// Names of what was created, by the template's logical ids: the functions' own `Resources`.
pub use gateway_aws::config::Resources;

/// The parsed template (short-form intrinsics such as `!Ref` come back as tagged values).
pub fn load_template(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_norway::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The template's resources of one CloudFormation type, by logical id.
pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    let Some(resources) = template.get("Resources").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    let mut out: Vec<(&str, &Value)> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .filter_map(|(id, r)| Some((id.as_str()?, r.get("Properties")?)))
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

/// The logical id named by `!GetAtt X.Arn` or `{"Fn::GetAtt": [X, "Arn"]}`.
pub fn get_att_target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_owned),
        Value::Mapping(m) => m
            .get("Fn::GetAtt")
            .and_then(|v| v.as_sequence())
            .and_then(|seq| seq.first())
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `KeySchema` of a table or an index in template.yaml.
fn key_schema(props: &Value) -> anyhow::Result<Vec<KeySchemaElement>> {
    let mut keys = Vec::new();
    for key in props
        .get("KeySchema")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let attr = key
            .get("AttributeName")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("AttributeName"))?;
        let kind = key
            .get("KeyType")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("KeyType"))?;
        keys.push(
            KeySchemaElement::builder()
                .attribute_name(attr)
                .key_type(KeyType::from(kind))
                .build()?,
        );
    }
    Ok(keys)
}

/// A `GlobalSecondaryIndexes` entry of template.yaml, as CreateTable takes it.
fn global_index(index: &Value) -> anyhow::Result<GlobalSecondaryIndex> {
    let name = index
        .get("IndexName")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("IndexName"))?;
    let mut builder = GlobalSecondaryIndex::builder().index_name(name);
    for key in key_schema(index)? {
        builder = builder.key_schema(key);
    }
    let projection = index
        .get("Projection")
        .and_then(|p| p.get("ProjectionType"))
        .and_then(Value::as_str)
        .unwrap_or("ALL");
    Ok(builder
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::from(projection))
                .build(),
        )
        .build()?)
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    props: &Value,
) -> anyhow::Result<()> {
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for def in props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let attr = def
            .get("AttributeName")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("AttributeName"))?;
        let kind = def
            .get("AttributeType")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("AttributeType"))?;
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(kind))
                .build()?,
        );
    }
    for key in key_schema(props)? {
        create = create.key_schema(key);
    }
    for index in props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        create = create.global_secondary_indexes(global_index(index)?);
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("creating table {name}"))),
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification")
        && let Some(attr) = ttl.get("AttributeName").and_then(Value::as_str)
    {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attr)
            .enabled(true)
            .build()?;
        // Emulators differ in TTL support; expiry is also checked in every condition, so a
        // missing TTL sweep locally changes nothing the gateway relies on.
        if let Err(e) = client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
        {
            tracing::debug!(table = name, error = %e, "emulator did not take the TTL setting");
        }
    }
    Ok(())
}

/// Creates every table and queue of the template, named `<prefix>-<LogicalId>`.
pub async fn provision(
    clients: &gateway_aws::Clients,
    template: &Path,
    prefix: &str,
) -> anyhow::Result<Resources> {
    let (dynamodb, sqs) = (&clients.dynamodb, &clients.sqs);
    let template = load_template(template)?;
    let mut buckets = HashMap::new();
    for (id, _) in resources_of_type(&template, "AWS::S3::Bucket") {
        // Bucket names are lower case, at most 63 characters.
        let name: String = format!("{prefix}-{id}")
            .to_ascii_lowercase()
            .chars()
            .take(63)
            .collect();
        create_bucket(&clients.s3, &name).await?;
        buckets.insert(id.to_owned(), name);
    }
    let mut tables = HashMap::new();
    for (id, props) in resources_of_type(&template, "AWS::DynamoDB::Table") {
        let name = format!("{prefix}-{id}");
        create_table(dynamodb, &name, props).await?;
        tables.insert(id.to_owned(), name);
    }

    // Queues first without redrive, so every dead-letter ARN exists when it is referenced.
    let mut queues: HashMap<String, (String, String)> = HashMap::new();
    let queue_resources = resources_of_type(&template, "AWS::SQS::Queue");
    for (id, props) in &queue_resources {
        let name = format!("{prefix}-{id}");
        let mut create = sqs.create_queue().queue_name(&name);
        for (key, attr) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            (
                "MessageRetentionPeriod",
                QueueAttributeName::MessageRetentionPeriod,
            ),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
            (
                "ReceiveMessageWaitTimeSeconds",
                QueueAttributeName::ReceiveMessageWaitTimeSeconds,
            ),
        ] {
            if let Some(value) = props.get(key).and_then(scalar_string) {
                create = create.attributes(attr, value);
            }
        }
        let url = match create.send().await {
            Ok(out) => out.queue_url,
            // Provisioned before, with attributes changed since: keep the queue as it is.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_name_exists()) =>
            {
                sqs.get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await?
                    .queue_url
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating queue {name}"))),
        }
        .ok_or_else(|| anyhow!("no URL for queue {name}"))?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| anyhow!("no ARN for queue {name}"))?;
        queues.insert((*id).to_owned(), (url, arn));
    }
    for (id, props) in &queue_resources {
        let Some(redrive) = props.get("RedrivePolicy") else {
            continue;
        };
        let target = redrive
            .get("deadLetterTargetArn")
            .and_then(get_att_target)
            .ok_or_else(|| anyhow!("{id}: deadLetterTargetArn must be !GetAtt <queue>.Arn"))?;
        let (_, dlq_arn) = queues
            .get(&target)
            .ok_or_else(|| anyhow!("{id}: unknown queue {target}"))?;
        let max = redrive
            .get("maxReceiveCount")
            .and_then(scalar_string)
            .ok_or_else(|| anyhow!("{id}: maxReceiveCount missing"))?;
        let policy = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max.parse::<u32>()?});
        sqs.set_queue_attributes()
            .queue_url(&queues[*id].0)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .with_context(|| format!("setting the redrive policy of {id}"))?;
    }

    let table = |id: &str| {
        tables
            .get(id)
            .cloned()
            .ok_or_else(|| anyhow!("template has no table {id}"))
    };
    let queue = |id: &str| {
        queues
            .get(id)
            .map(|(u, _)| u.clone())
            .ok_or_else(|| anyhow!("template has no queue {id}"))
    };
    if tables.len() != 4 || queues.len() != 2 || buckets.len() != 1 {
        bail!(
            "template.yaml should declare 4 tables, 2 queues and 1 bucket, found {}, {} and {}",
            tables.len(),
            queues.len(),
            buckets.len()
        );
    }
    Ok(Resources {
        tenants_table: table("TenantsTable")?,
        messages_table: table("MessagesTable")?,
        idempotency_table: table("IdempotencyTable")?,
        connections_table: table("ConnectionsTable")?,
        events_queue_url: queue("EventsQueue")?,
        dead_letter_queue_url: queue("EventsDeadLetterQueue")?,
        events_bucket: buckets
            .remove("EventsBucket")
            .ok_or_else(|| anyhow!("template has no bucket EventsBucket"))?,
    })
}

/// Creates `name`, or keeps it when an earlier run made it.
async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) -> anyhow::Result<()> {
    match s3.create_bucket().bucket(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|e| {
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow!(
            "creating bucket {name}: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        )),
    }
}
