"""A chat completion as Groq and the OpenAI-compatible providers answer one (the shape of their
API reference: `choices[0].message.content` holds the model's text, `usage` counts its tokens)."""

from __future__ import annotations

from typing import Any


def chat_completion(text: str, *, model: str, prompt_tokens: int, completion_tokens: int,
                    completion_id: str = "chatcmpl-1", created: int = 1733097600) -> dict[str, Any]:
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
