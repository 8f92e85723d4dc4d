#!/usr/bin/env bash
# Seeds the fuzz corpora from the repository's fixtures (the corpora themselves are not kept).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/split_events corpus/simple_message
cp ../tests/fixtures/meta/*.json corpus/split_events/
i=0
for body in \
  '{"recipient":"4915112345678","channel":"whatsapp","type":"text","text":{"body":"Hallo"}}' \
  '{"recipient":"+4915112345678","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}},"phone_number_id":"106540352242922"}' \
  '{"recipient":"4915112345678","type":"image","image":{"link":"https://example.com/a.png"},"callback_url":"https://example.com/cb"}' \
  '{"recipient":"4915112345678","type":"interactive","interactive":{"type":"button","body":{"text":"?"},"action":{"buttons":[]}},"context":{"message_id":"wamid.X"}}' \
  '{"recipient":"4915112345678","type":"reaction","reaction":{"message_id":"wamid.X","emoji":"\ud83d\udc4d"}}'
do
  printf '%s' "$body" > "corpus/simple_message/seed-$i.json"
  i=$((i + 1))
done
