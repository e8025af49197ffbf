"""The demo's plans: each names a recipe every pack ships, its overrides validate on it, a wrong base is one line."""

from __future__ import annotations

import pytest

from veritune.demo import BASES, PLANS, demo_plan
from veritune.errors import VerituneError
from veritune.packs import load_all_packs


@pytest.mark.parametrize("base", BASES)
def test_every_plan_runs_a_recipe_each_pack_ships(base: str, tmp_path) -> None:
    from finetune import Recipe
    from veritune.config import load_config

    plan = PLANS[base]
    for pack in load_all_packs():
        recipe = load_config(Recipe, pack.path(pack.spec.recipes[plan.recipe]), [
            f"model={tmp_path / 'base'}", f"output_dir={tmp_path / pack.name}", *plan.overrides_for(pack.name)])
        assert recipe.method == "lora" and recipe.lora.targets.experts and not recipe.lora.targets.router
        if plan.overrides:      # the real base: 48 steps (at 12 finance wrote no findings), finance's two formats 64
            steps = 64 if pack.name == "finance" else 48
            assert recipe.train.max_steps == recipe.train.save_steps == steps


def test_a_pack_override_comes_after_the_plans() -> None:
    from veritune.demo import DemoPlan

    plan = DemoPlan("smollm2", "smollm2_moe_sft", ("train.max_steps=48",), 20, 2, {"finance": ("train.max_steps=96",)})
    assert plan.overrides_for("finance") == ("train.max_steps=48", "train.max_steps=96")
    assert plan.overrides_for("medical") == ("train.max_steps=48",)


def test_the_real_base_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERITUNE_DEMO_BASE", raising=False)
    assert demo_plan().base == "smollm2" and demo_plan().threads == 2
    monkeypatch.setenv("VERITUNE_DEMO_BASE", "tiny")
    assert demo_plan().base == "tiny"


def test_an_unknown_base_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITUNE_DEMO_BASE", "llama")
    with pytest.raises(VerituneError, match="unknown demo base 'llama'; choose one of smollm2, tiny"):
        demo_plan()


def test_the_stage_clock_reports_where_the_minutes_went(tmp_path) -> None:
    """The demo prints minutes per stage and per pack and writes them, with the plan, seed and package versions,
    to runs/demo/demo_run.json."""
    from veritune.atomic import write_json
    from veritune.demo import StageClock

    ticks = iter([0.0, 30.0, 90.0, 90.0, 510.0, 510.0, 840.0, 840.0, 1440.0, 1464.0, 1464.0])
    clock = StageClock(clock=lambda: next(ticks))
    clock.stage("index")                      # 30 s
    clock.stage("base")                       # 60 s
    started = clock.clock()
    clock.part("fine-tune", "finance", clock.clock() - started)   # 420 s
    started = clock.clock()
    clock.part("fine-tune", "medical", clock.clock() - started)   # 330 s
    clock.stage("fine-tune")                  # 750 s
    clock.stage("eval")                       # 600 s
    assert clock.summary(2) == ("minutes: index 0.5, base 1.0, fine-tune 12.5 (finance 7.0, medical 5.5), eval 10.0; "
                                "total 24.4 at 2 thread(s)")
    record = clock.record(2, PLANS["smollm2"])
    write_json(tmp_path / "demo_run.json", record)
    assert record["stages_seconds"]["fine-tune"] == 750.0 and record["parts_seconds"]["fine-tune"]["medical"] == 330.0
    assert record["plan"]["recipe"] == "smollm2_moe_sft" and record["seed"] == 0 and "torch" in record["packages"]
