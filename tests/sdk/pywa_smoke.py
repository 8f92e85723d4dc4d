#!/usr/bin/env python3
"""pywa, installed from its registry, against the gateway: base URL and token changed, nothing else.

Run by tests/integration/sdks.rs (`make test` installs pywa under .cache).

env: GATEWAY_URL (e.g. http://127.0.0.1:8080), GATEWAY_TOKEN, PHONE_ID, WABA_ID
optional: TO (recipient wa_id, default 15551234567), MESSAGE_ID (for read/typing,
default wamid.TEST), GRAPH_VERSION (default 23.0; set to "" to send unversioned paths)
"""
import dataclasses
import enum
import json
import os
import sys

import httpx
from pywa import WhatsApp
from pywa.types.templates import BodyText, Template, TemplateCategory, TemplateLanguage

GATEWAY_URL = os.environ["GATEWAY_URL"].rstrip("/")
TOKEN = os.environ["GATEWAY_TOKEN"]
PHONE_ID = os.environ["PHONE_ID"]
WABA_ID = os.environ["WABA_ID"]
TO = os.environ.get("TO", "15551234567")
MESSAGE_ID = os.environ.get("MESSAGE_ID", "wamid.TEST")
VERSION = os.environ.get("GRAPH_VERSION", "23.0")

# No server / callback_url / verify_token / app_secret => WhatsApp() does no network I/O.
wa = WhatsApp(
    phone_id=PHONE_ID,
    token=TOKEN,
    waba_id=WABA_ID,
    api_version=VERSION or "23.0",
    # trust_env=False: ignore HTTP(S)_PROXY env vars for the local gateway.
    session=httpx.Client(timeout=30.0, trust_env=False),
)
# pywa.api.GraphAPI.__init__ hard-codes base_url=https://graph.facebook.com/v{version};
# override it afterwards (relative endpoints such as "/{phone_id}/messages" are appended).
wa.api._session.base_url = f"{GATEWAY_URL}/v{VERSION}" if VERSION else GATEWAY_URL


def plain(o):
    """Best-effort JSON conversion of pywa result objects (skips private fields)."""
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: plain(getattr(o, f.name)) for f in dataclasses.fields(o)
                if not f.name.startswith("_")}
    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, (list, tuple)):
        return [plain(x) for x in o]
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (str, int, float, bool)) or o is None:
        return o
    if isinstance(o, bytes):
        return {"bytes": len(o)}
    if hasattr(o, "__len__") and hasattr(o, "__getitem__"):  # pywa Result[...]
        return [plain(x) for x in o]
    return str(o)


failures = []
state = {}


def step(name, fn):
    try:
        res = fn()
        print(json.dumps({"step": name, "ok": True, "result": plain(res)}, default=str), flush=True)
        return res
    except Exception as e:  # noqa: BLE001
        failures.append(name)
        print(json.dumps({"step": name, "ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
        return None


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
       b"\x00\x00IEND\xaeB`\x82")

step("send_text", lambda: wa.send_message(to=TO, text="hello from pywa"))
step("send_template", lambda: wa.send_template(to=TO, name="hello_world",
                                                language=TemplateLanguage.ENGLISH_US))
step("mark_as_read", lambda: wa.mark_message_as_read(message_id=MESSAGE_ID))
step("typing_indicator", lambda: wa.indicate_typing(message_id=MESSAGE_ID))
media = step("upload_media", lambda: wa.upload_media(media=PNG, mime_type="image/png",
                                                     filename="pixel.png"))
murl = step("get_media_url", lambda: wa.get_media_url(media_id=media.id)) if media else None
def download():
    if not murl.url.startswith(GATEWAY_URL + "/"):
        raise AssertionError(f"the media url is not the gateway's: {murl.url}")
    data = wa.get_media_bytes(url=murl.url)
    if data != PNG:
        raise AssertionError(f"downloaded {len(data)} bytes that differ from the {len(PNG)} uploaded")
    return {"bytes": len(data)}


if murl:
    step("download_media", download)
else:
    failures.append("download_media(skipped)")
LARGE_ID = os.environ.get("LARGE_MEDIA_ID")
if LARGE_ID:
    def download_large():
        import hashlib
        url = wa.get_media_url(media_id=LARGE_ID).url
        data = wa.get_media_bytes(url=url)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != int(os.environ["LARGE_MEDIA_BYTES"]) or digest != os.environ["LARGE_MEDIA_SHA256"]:
            raise AssertionError(f"downloaded {len(data)} bytes with sha256 {digest}")
        return {"bytes": len(data)}

    step("download_large_media", download_large)

step("business_profile_get", lambda: wa.get_business_profile())
step("business_profile_update", lambda: wa.update_business_profile(about="pywa smoke test"))
step("templates_list", lambda: wa.get_templates())
created = step("template_create", lambda: wa.create_template(template=Template(
    name="sdk_smoke_test",
    language=TemplateLanguage.ENGLISH_US,
    category=TemplateCategory.UTILITY,
    components=[BodyText("Hello from the SDK smoke test")],
)))
step("template_delete", lambda: wa.delete_template(
    template_name="sdk_smoke_test", template_id=created.id if created else None))
step("phone_numbers_list", lambda: wa.get_business_phone_numbers())
qr = step("qr_create", lambda: wa.create_qr_code(prefilled_message="Hello from pywa",
                                                 image_type="PNG"))
step("qr_list", lambda: wa.get_qr_codes())
if qr:
    step("qr_delete", lambda: wa.delete_qr_code(code=qr.code))
else:
    failures.append("qr_delete(skipped)")
step("block_users", lambda: wa.block_users(users=[TO]))
step("flows_list", lambda: wa.get_flows())

print(json.dumps({"done": True, "failures": failures}), flush=True)
sys.exit(1 if failures else 0)
