"""Other tools' schemas: OpenAI tool calling, ShareGPT function calls, reasoning, content parts, LLaMA-Factory's
ranking / v1 / KTO rows — each detected, checked without false alarms, and normalised to ftwiz's canonical turns.
The rows are written here in those projects' formats (never copied from them)."""

from __future__ import annotations

import json

import pytest

from ftwiz.data.formats import detect, normalize, validate
from ftwiz.data.load import check_method
from ftwiz.errors import BadInput

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
OPENAI_TOOLS = {
    "messages": [
        {"role": "developer", "content": "You can call tools."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Weather in Paris "}, {"type": "text", "text": "today?"}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
        {"role": "assistant", "content": "It is 18 °C in Paris.", "reasoning_content": "The tool said 18."},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "You're welcome.", "weight": 0},
    ],
    "tools": [WEATHER],
    "parallel_tool_calls": False,
}


def test_openai_tool_calling_is_one_valid_conversation():
    assert detect(OPENAI_TOOLS) == "messages" and validate(OPENAI_TOOLS, "messages") == []
    turns = normalize(OPENAI_TOOLS, "messages")["messages"]
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "tool", "assistant", "user", "assistant"]
    assert turns[1]["content"] == "Weather in Paris today?"  # parts flattened before any template sees them
    call = turns[2]["tool_calls"][0]
    assert turns[2]["content"] == "" and call["id"] == "call_1"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert turns[3] == {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": "call_1"}
    assert turns[4]["reasoning_content"] == "The tool said 18."
    assert turns[6]["train"] is False and "train" not in turns[4]  # weight 0: shown, not trained


def test_tools_column_becomes_one_json_string():
    row = normalize(OPENAI_TOOLS, "messages")
    assert json.loads(row["tools"]) == [WEATHER]
    as_text = {**OPENAI_TOOLS, "tools": json.dumps([WEATHER])}  # LLaMA-Factory writes it as a JSON string
    assert normalize(as_text, "messages")["tools"] == row["tools"]
    assert [p.field for p in validate({**OPENAI_TOOLS, "tools": "[{oops"}, "messages")] == ["tools"]


def test_dict_arguments_are_kept_as_json_text():
    row = {
        "messages": [
            {"role": "user", "content": "2*3?"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "mul", "arguments": {"a": 2, "b": 3}}}]},
            {"role": "tool", "name": "mul", "content": "6"},
            {"role": "assistant", "content": "6"},
        ]
    }
    call = normalize(row, "messages")["messages"][1]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}


def test_sharegpt_function_call_and_observation_turns():
    row = {
        "conversations": [
            {"from": "human", "value": "Find a recipe with rice"},
            {"from": "function_call", "value": '{"name": "search_recipes", "arguments": {"ingredients": ["rice"]}}'},
            {"from": "observation", "value": '{"recipes": ["fried rice"]}'},
            {"from": "gpt", "value": "Try fried rice."},
        ],
        "system": "You are a cook.",
        "tools": '[{"name": "search_recipes", "parameters": {"type": "object"}}]',
    }
    assert detect(row) == "sharegpt" and validate(row, "sharegpt") == []
    turns = normalize(row, "sharegpt")["messages"]
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "tool", "assistant"]
    assert turns[2]["tool_calls"][0]["function"]["name"] == "search_recipes"
    assert json.loads(turns[2]["tool_calls"][0]["function"]["arguments"]) == {"ingredients": ["rice"]}


def test_v1_content_parts_reasoning_and_loss_weight():
    parts = lambda *p: [{"type": t, "value": v} for t, v in p]  # noqa: E731
    row = {
        "messages": [
            {"role": "system", "content": parts(("text", "Use tools.")), "loss_weight": 0.0},
            {"role": "user", "content": parts(("text", "Area of r=2?")), "loss_weight": 0.0},
            {
                "role": "assistant",
                "content": parts(
                    ("reasoning", "Need the tool."), ("tool_call", '{"name": "area", "arguments": {"r": 2}}')
                ),
                "loss_weight": 1.0,
            },
            {"role": "tool", "content": parts(("text", "12.57"))},
            {
                "role": "assistant",
                "content": parts(("reasoning", "Done."), ("text", "About 12.57.")),
                "loss_weight": 1.0,
            },
        ]
    }
    assert validate(row, "messages") == []
    turns = normalize(row, "messages")["messages"]
    assert turns[2]["reasoning_content"] == "Need the tool." and turns[2]["content"] == ""
    assert turns[2]["tool_calls"][0]["function"]["name"] == "area"
    assert turns[4] == {"role": "assistant", "content": "About 12.57.", "reasoning_content": "Done."}


@pytest.mark.parametrize(
    ("turns", "field", "message"),
    [
        ([{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}], "messages[1].role", "no tool call"),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"name": "f", "arguments": "{x"}]}],
            "messages[1].tool_calls[0].arguments",
            "not JSON",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content[0]",
            "image_url part",
        ),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}],
            "messages",
            "weight 0",
        ),
    ],
)
def test_bad_tool_rows_say_where(turns, field, message):
    problems = validate({"messages": turns}, "messages")
    assert problems and problems[0].field == field and message in problems[0].message


def test_llamafactory_ranking_rows_are_preference_pairs():
    row = {
        "conversations": [{"from": "human", "value": "Name a colour"}],
        "chosen": {"from": "gpt", "value": "Blue."},
        "rejected": {"from": "gpt", "value": "No."},
    }
    assert detect(row) == "preference" and validate(row, "preference") == []
    assert normalize(row, "preference") == {
        "prompt": [{"role": "user", "content": "Name a colour"}],
        "chosen": [{"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "assistant", "content": "No."}],
    }


def test_v1_chosen_and_rejected_messages_share_their_prompt():
    text = lambda v: [{"type": "text", "value": v}]  # noqa: E731
    prompt = [{"role": "user", "content": text("Translate: bonjour"), "loss_weight": 0.0}]
    row = {
        "chosen_messages": [*prompt, {"role": "assistant", "content": text("hello"), "loss_weight": 1.0}],
        "rejected_messages": [*prompt, {"role": "assistant", "content": text("goodbye"), "loss_weight": 1.0}],
    }
    assert detect(row) == "preference"
    assert normalize(row, "preference") == {
        "prompt": [{"role": "user", "content": "Translate: bonjour"}],
        "chosen": [{"role": "assistant", "content": "hello"}],
        "rejected": [{"role": "assistant", "content": "goodbye"}],
    }


@pytest.mark.parametrize(
    "row",
    [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}], "label": False},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "bad"}], "label": False},
        {"instruction": "q", "input": "", "output": "bad", "label": "false"},
        {"prompt": "q", "completion": "bad", "label": 0},
    ],
)
def test_a_label_beside_answers_is_kto_feedback(row):
    assert detect(row) == "unpaired_preference" and validate(row, "unpaired_preference") == []
    canonical = normalize(row, "unpaired_preference")
    assert canonical["label"] is False
    answer = canonical["completion"]
    assert (answer if isinstance(answer, str) else answer[-1]["content"]) == "bad"


def test_kto_file_is_refused_for_sft_never_trained_as_plain_chat():
    with pytest.raises(BadInput, match="kto"):
        check_method("unpaired_preference", "sft", "kto.json")
    check_method("unpaired_preference", "kto", "kto.json")
    assert (
        validate(
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "label": "maybe"},
            "unpaired_preference",
        )[0].field
        == "label"
    )


def test_media_columns_are_refused_with_their_count():
    row = {
        "messages": [{"role": "user", "content": "<image>Who?"}, {"role": "assistant", "content": "Two players."}],
        "images": ["a.jpg", "b.jpg"],
    }
    problems = validate(row, "messages")
    assert [p.field for p in problems] == ["images"] and "(2)" in problems[0].message


def test_alpaca_system_and_history():
    row = {"instruction": "And 3+3?", "input": "", "output": "6", "system": "Be terse.", "history": [["1+1?", "2"]]}
    assert [(t["role"], t["content"]) for t in normalize(row, "alpaca")["messages"]] == [
        ("system", "Be terse."),
        ("user", "1+1?"),
        ("assistant", "2"),
        ("user", "And 3+3?"),
        ("assistant", "6"),
    ]
