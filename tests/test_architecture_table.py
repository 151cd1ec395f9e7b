"""The architecture table: parameter groups, depth, truncation and position ids, on names and tiny configs."""

from __future__ import annotations

import pytest
import torch

from ftaudit.architectures import (EMBEDDINGS_ORDER, FINAL_ORDER, GENERIC, HEAD_ORDER, POOLER_ORDER, TABLE,
                                   architecture_for, architecture_of)


@pytest.mark.parametrize("model_type, name, expected", [
    ("bert", "bert.embeddings.word_embeddings.weight", ("embeddings", "embeddings")),
    ("bert", "bert.encoder.layer.3.attention.self.query.weight", ("layer 3", "attention")),
    ("bert", "bert.encoder.layer.3.attention.output.LayerNorm.bias", ("layer 3", "layernorm")),
    ("bert", "bert.encoder.layer.3.intermediate.dense.weight", ("layer 3", "ffn")),
    ("bert", "encoder.layer.1.output.dense.weight", ("layer 1", "ffn")),  # a bare base checkpoint's key
    ("bert", "bert.pooler.dense.weight", ("pooler", "dense")),
    ("bert", "classifier.weight", ("head", "dense")),
    ("distilbert", "distilbert.transformer.layer.2.ffn.lin1.weight", ("layer 2", "ffn")),
    ("distilbert", "distilbert.transformer.layer.2.attention.q_lin.weight", ("layer 2", "attention")),
    ("distilbert", "pre_classifier.weight", ("head", "dense")),
    ("roberta", "classifier.out_proj.weight", ("head", "dense")),
    ("xlm-roberta", "roberta.encoder.layer.0.attention.self.key.bias", ("layer 0", "attention")),
    ("deberta-v2", "deberta.encoder.rel_embeddings.weight", ("embeddings", "embeddings")),
    ("deberta-v2", "deberta.encoder.LayerNorm.weight", ("embeddings", "embeddings")),
    ("deberta-v2", "deberta.encoder.layer.1.attention.self.query_proj.weight", ("layer 1", "attention")),
    ("deberta-v2", "pooler.dense.weight", ("pooler", "dense")),
    ("electra", "electra.embeddings_project.weight", ("embeddings", "embeddings")),
    ("electra", "classifier.dense.weight", ("head", "dense")),
    ("modernbert", "model.layers.1.attn.Wqkv.weight", ("layer 1", "attention")),
    ("modernbert", "model.layers.1.mlp_norm.weight", ("layer 1", "layernorm")),
    ("modernbert", "model.layers.0.mlp.Wi.weight", ("layer 0", "ffn")),
    ("modernbert", "model.final_norm.weight", ("final norm", "layernorm")),
    ("modernbert", "head.dense.weight", ("pooler", "dense")),
    ("modernbert", "classifier.weight", ("head", "dense")),
    ("albert", "albert.encoder.embedding_hidden_mapping_in.weight", ("embeddings", "embeddings")),
    ("albert", "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight",
     ("layer group 0", "attention")),
    ("albert", "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight", ("layer group 0", "ffn")),
    ("albert", "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.weight",
     ("layer group 0", "layernorm")),
    ("gpt-neo-classifier", "transformer.h.4.mlp.c_fc.weight", ("layer 4", "ffn")),  # the generic row
    ("gpt-neo-classifier", "transformer.wte.embed.weight", ("embeddings", "embeddings")),
    ("gpt-neo-classifier", "score.weight", ("head", "dense")),
])
def test_parameter_groups(model_type, name, expected):
    g = architecture_for(model_type).classify(name)
    assert (g.layer, g.part) == expected
    orders = {"embeddings": EMBEDDINGS_ORDER, "final norm": FINAL_ORDER, "pooler": POOLER_ORDER, "head": HEAD_ORDER}
    assert g.order == (int(g.layer.split()[-1]) if g.layer.startswith("layer") else orders[g.layer])


def test_every_model_type_has_one_row_and_unknown_types_get_the_generic_row():
    types = [t for a in TABLE for t in a.model_types]
    assert len(types) == len(set(types))
    assert architecture_for("bert").name == "BERT"
    unknown = architecture_for("my-encoder")
    assert unknown.name == "my-encoder" and unknown.layer == GENERIC.layer and unknown.positions == "own"


def _tiny(model_type: str, **extra):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    sizes = dict(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, vocab_size=50,
                 max_position_embeddings=40)
    if model_type == "distilbert":
        sizes = dict(dim=16, n_layers=4, n_heads=2, hidden_dim=32, vocab_size=50, max_position_embeddings=40)
    if model_type == "modernbert":
        sizes.update(pad_token_id=0, bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3)
    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, **sizes, **extra)
    return AutoModelForSequenceClassification.from_config(config).eval()


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta", "deberta-v2", "electra", "modernbert"])
def test_truncated_models_run_save_and_reload_at_their_new_depth(model_type, tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = _tiny(model_type)
    arch = architecture_of(model)
    assert arch.truncation_problem(model) is None and arch.depth_of(model.config) == 4
    before = sum(p.numel() for p in model.parameters())
    arch.keep_first_layers(model, 1)
    assert arch.depth_of(model.config) == 1 and len(arch.layer_list(model)) == 1
    assert sum(p.numel() for p in model.parameters()) < before
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    logits = model(input_ids=ids).logits
    model.save_pretrained(tmp_path)
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert torch.allclose(again(input_ids=ids).logits, logits)
    with pytest.raises(ValueError, match="cannot keep 2 of 1"):
        arch.keep_first_layers(model, 2)


def test_modernbert_keeps_the_attention_type_of_each_kept_layer():
    model = _tiny("modernbert", global_attn_every_n_layers=2, local_attention=8)
    assert model.config.layer_types == ["full_attention", "sliding_attention"] * 2
    architecture_of(model).keep_first_layers(model, 3)
    assert model.config.layer_types == ["full_attention", "sliding_attention", "full_attention"]
    assert [layer.attention_type for layer in model.model.layers] == model.config.layer_types


def test_albert_with_one_shared_group_cannot_be_truncated_and_says_why():
    model = _tiny("albert", embedding_size=8, num_hidden_groups=1)
    arch = architecture_of(model)
    problem = arch.truncation_problem(model)
    assert problem and "shares one set of layer weights across all 4 layers" in problem
    with pytest.raises(ValueError, match="shares one set"):
        arch.keep_first_layers(model, 2)


def test_albert_with_several_groups_keeps_whole_groups():
    model = _tiny("albert", embedding_size=8, num_hidden_groups=2)
    arch = architecture_of(model)
    assert arch.truncation_problem(model) is None and arch.truncation_step(model) == 2
    with pytest.raises(ValueError, match="a multiple of 2"):
        arch.keep_first_layers(model, 1)
    before = sum(p.numel() for p in model.parameters())
    arch.keep_first_layers(model, 2)
    assert (model.config.num_hidden_layers, model.config.num_hidden_groups) == (2, 1)
    assert sum(p.numel() for p in model.parameters()) < before
    assert model(input_ids=torch.tensor([[2, 5, 6, 3]])).logits.shape == (1, 2)


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta", "xlm-roberta", "deberta-v2", "electra",
                                        "modernbert", "albert"])
def test_explicit_position_ids_are_the_ones_the_model_makes(model_type):
    """The table's position ids change nothing on real (padded) input: bit-identical logits."""
    extra = {"embedding_size": 8} if model_type == "albert" else {}
    if model_type in ("roberta", "xlm-roberta"):
        extra["pad_token_id"] = 1
    model = _tiny(model_type, **extra)
    pad = model.config.pad_token_id
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 9, 3, pad, pad]])
    mask = (ids != pad).long()
    positions = architecture_of(model).position_ids(ids, model.config)
    with torch.no_grad():
        own = model(input_ids=ids, attention_mask=mask).logits
        explicit = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    assert torch.equal(own, explicit)


def test_roberta_positions_count_from_padding_idx_over_real_tokens():
    config = type("C", (), {"pad_token_id": 1})()
    ids = torch.tensor([[0, 7, 8, 2, 1, 1]])
    assert architecture_for("roberta").position_ids(ids, config).tolist() == [[2, 3, 4, 5, 1, 1]]
    assert architecture_for("bert").position_ids(ids, config).tolist() == [[0, 1, 2, 3, 4, 5]]
    assert architecture_for("unknown").position_ids(ids, config) is None
