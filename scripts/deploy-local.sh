#!/usr/bin/env bash
# `make deploy-local`'s run inside the emulator: CMD (the end-to-end suite, each test deploying
# template.yaml with `sam deploy` and removing it with `sam delete`), then a check that nothing
# the stacks or the tests created is left in the emulator (stacks, functions, mappings, tables,
# queues, buckets, HTTP and WebSocket APIs, topics, SSM parameters; alarms are not listed: the emulator's
# CloudWatch answers in a protocol the SDKs cannot read). Needs AWS_ENDPOINT_URL (scripts/emulator.sh run)
# and the SAM CLI's Python (boto3) on PATH.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

status=0
"$@" || status=$?

python - <<'PY' || status=1
import boto3

left = []
cfn = boto3.client("cloudformation")
for page in cfn.get_paginator("list_stacks").paginate():
    left += [f"stack {s['StackName']} ({s['StackStatus']})" for s in page["StackSummaries"]
             if s["StackStatus"] != "DELETE_COMPLETE"]
left += [f"function {f['FunctionName']}" for f in boto3.client("lambda").list_functions()["Functions"]]
left += [f"table {t}" for t in boto3.client("dynamodb").list_tables()["TableNames"]]
left += [f"queue {q}" for q in boto3.client("sqs").list_queues().get("QueueUrls", [])]
left += [f"bucket {b['Name']}" for b in boto3.client("s3").list_buckets()["Buckets"]
         if b["Name"] != "gateway-sam-artifacts"]
left += [f"event source mapping {m['UUID']}"
         for m in boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"]]
left += [f"API {a['ApiId']} ({a.get('ProtocolType')})" for a in boto3.client("apigatewayv2").get_apis()["Items"]]
left += [f"topic {t['TopicArn']}" for t in boto3.client("sns").list_topics()["Topics"]]
for page in boto3.client("ssm").get_paginator("describe_parameters").paginate():
    left += [f"parameter {p['Name']}" for p in page["Parameters"]]
if left:
    print("deploy-local: left in the emulator after sam delete:")
    for item in left:
        print("  " + item)
    raise SystemExit(1)
print("deploy-local: nothing left in the emulator after sam delete")
PY
exit $status
