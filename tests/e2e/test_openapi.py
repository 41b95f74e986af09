"""The API docs still describe POST /webhook (its route skips FastAPI's per-request work)."""

from __future__ import annotations


async def test_the_docs_describe_the_webhook_and_its_body(sparky) -> None:
    docs = (await sparky.client.get("/openapi.json")).json()
    webhook = docs["paths"]["/webhook"]["post"]
    assert webhook["summary"] == "Receive an alert"
    assert set(webhook["requestBody"]["content"]) == {"application/json", "text/plain"}
    assert "get" in docs["paths"]["/webhook/{request_id}"]


async def test_a_body_that_is_not_json_is_a_400_naming_the_problem(sparky) -> None:
    response = await sparky.client.post("/webhook", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["success"] is False


async def test_the_docs_show_the_alert_fields_the_webhook_validates(sparky) -> None:
    docs = (await sparky.client.get("/openapi.json")).json()
    schema = docs["paths"]["/webhook"]["post"]["requestBody"]["content"]["application/json"]["schema"]

    assert schema["required"] == ["action", "symbol", "exchange"]
    fields = schema["properties"]
    assert {"secret", "action", "sentiment", "symbol", "exchange", "order_type", "price", "stop_loss_percent",
            "take_profit_percent", "position_size_usd", "quantity", "alert_id", "timestamp"} <= set(fields)
    assert {"long", "short", "flat", "buy", "sell", "close_long"} <= set(fields["action"]["enum"])
    assert fields["order_type"]["enum"] == ["market", "limit"]
    assert "$ref" not in str(schema)  # every reference inlined: the docs resolve none of the model's

