"""resolve.py: the cross-section defaults a run fills in before it starts."""


def test_lr_auto_is_the_familys_own_rate_and_a_number_given_stays():
    from fenlei.config import load_config
    from fenlei.resolve import resolve

    def lr(*sets):
        cfg = load_config(None, ["data.train=t.tsv", *sets])
        resolve(cfg)
        return cfg.train.lr

    assert lr("model.name=textcnn") == 1e-3
    assert lr("model.name=transformer") == 5e-5  # 1e-3 leaves a fine-tuned encoder at chance
    assert lr("model.name=transformer", "train.lr=2e-5") == 2e-5
