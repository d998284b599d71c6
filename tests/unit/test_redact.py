from ftwiz.redact import redact


def test_tokens_are_redacted():
    assert redact("ftwiz --set x=hf_abcdefghijklmnop") == "ftwiz --set x=hf_***"
    assert redact("HF_TOKEN=abc123 run") == "HF_TOKEN=*** run"
    assert redact("--set hub.api_key=sekrit") == "--set hub.api_key=***"
    assert redact("ftwiz --preset tiny-demo --headless") == "ftwiz --preset tiny-demo --headless"
