"""问题研判: the category classifier and text similarity (yiwang.cityops.triage)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from yiwang.cityops import triage
from yiwang.cityops.triage import (
    CONFIDENCE_THRESHOLD,
    SIMILARITY_THRESHOLD,
    Classifier,
    InvalidModel,
    InvalidSample,
    Prediction,
    TooFewCategories,
    TooFewSamples,
    TriageError,
    UntrainedClassifier,
    text_similarity,
    tokens,
)

# A small city's labelled events, written the way citizens and 12345 operators write them.
CORPUS: dict[str, list[str]] = {
    "street_vending": [  # 市容环境 / 占道经营
        "小区门口有人占道经营，摆摊卖水果，把人行道都堵住了",
        "菜市场外面流动摊贩占道摆摊，行人没法走",
        "学校门口每天下午有小商贩摆摊卖烧烤，占用人行道",
        "夜市摊位摆到了马路上，占道经营很严重",
        "有商户把货物摆到店外人行道上经营，占道",
        "天桥下面有流动摊贩卖衣服，占道经营",
        "地铁站出口小贩聚集摆地摊，影响通行",
        "早餐店在门口支起桌子占道经营，油烟很大",
        "三轮车停在路边卖西瓜，长期占道经营",
        "街边水果摊越摆越多，侵占人行道",
        "公交站台旁边有人摆摊卖小吃，占道严重",
        "商铺出店经营，把桌椅摆满了人行道",
    ],
    "garbage": [  # 市容环境 / 垃圾堆放
        "小区垃圾桶旁边垃圾堆积如山，好几天没人清运，很臭",
        "路边有人乱倒建筑垃圾，堆了一大堆",
        "楼道里堆满了生活垃圾，没人清理",
        "河边垃圾堆放严重，塑料袋到处飞",
        "垃圾站满了溢出来，苍蝇很多，气味难闻",
        "绿化带里被人扔了很多垃圾，一直没有清理",
        "工地旁边倾倒装修垃圾，占了半条路",
        "垃圾清运不及时，垃圾箱周围全是垃圾袋",
        "菜场后面的垃圾堆了一个星期，发臭了",
        "空地上有人偷倒渣土和建筑垃圾",
        "小区门口的大件垃圾旧沙发堆了很久没人收",
        "背街小巷垃圾成堆，卫生状况很差",
    ],
    "illegal_parking": [  # 街面秩序 / 乱停车
        "人行道上停满了机动车，行人只能走到马路上",
        "有辆轿车长期停在消防通道上，堵住了通道",
        "小区出口被乱停的车堵住了，车开不出去",
        "共享单车乱停乱放，堆满了盲道",
        "路口有车辆违章停车，影响交通",
        "货车停在非机动车道上卸货，自行车没法走",
        "医院门口车辆乱停放，救护车进不去",
        "有辆私家车停在公交站台上，公交车无法进站",
        "电动车随意停放在楼道口，挡住出入",
        "路边双排停车，造成道路拥堵",
        "一辆白色面包车占用盲道停车好几天了",
        "学校门口接孩子的家长乱停车，交通瘫痪",
    ],
    "manhole_missing": [  # 设施管理 / 井盖缺失
        "路中间的井盖不见了，很危险，晚上容易掉下去",
        "人行道上的窨井盖丢失，只剩一个大洞",
        "下水道井盖破损塌陷，车辆经过很危险",
        "小区里有个井盖被偷了，孩子差点掉进去",
        "雨水井盖缺失，有人用树枝挡着",
        "马路上井盖松动，车压过去咣当响",
        "污水井盖碎了，露出一个黑洞",
        "自行车道上的井盖下沉，骑车容易摔倒",
        "电力井盖被掀开了一直没盖上",
        "路口的窨井没有盖子，已经有人崴脚",
        "井盖缺了一块，边上裂开",
        "通信井的盖板不见了，晚上看不清",
    ],
    "streetlight_out": [  # 设施管理 / 路灯不亮
        "我们小区门口的路灯坏了好几天，晚上一片漆黑",
        "这条路的路灯全都不亮，晚上走路很害怕",
        "路灯一闪一闪的，时亮时不亮",
        "公园里的路灯有好几盏不亮了",
        "桥上的照明灯坏了，晚上过桥看不清",
        "路灯白天亮着晚上反而不亮",
        "巷子里的路灯灯泡坏了，一直没人修",
        "隧道里的灯不亮，开车很危险",
        "路灯杆倒了，灯也不亮",
        "十字路口的路灯晚上不亮，容易出事故",
        "人行道路灯线路故障，整排灯都灭了",
        "广场的景观灯和路灯都不亮",
    ],
    "waterlogging": [  # 突发事件 / 积水
        "下大雨后路面积水很深，车辆都熄火了",
        "地下通道积水没过膝盖，行人无法通行",
        "小区门口积水严重，排水不畅",
        "暴雨导致路口大面积积水，交通中断",
        "下水道堵塞，雨水排不出去，马路变成了河",
        "桥洞下积水半米深，有车被困",
        "雨后人行道积水，一直不退",
        "地下车库进水了，积水越来越多",
        "暴雨后这条街淹了，商铺进水",
        "路面塌陷处积满了雨水",
        "排水口被树叶堵住，路面积水",
        "立交桥下严重积水，公交车停运",
    ],
}
SAMPLES = [(text, code) for code, texts in CORPUS.items() for text in texts]

# Reports the classifier never saw, one per line, with the category a dispatcher would give them.
HELD_OUT = [
    ("医院门口有人摆摊卖水果，占道经营", "street_vending"),
    ("超市外面的人行道被小摊贩占满了", "street_vending"),
    ("小区后门垃圾堆放了好多天没人清运，臭气熏天", "garbage"),
    ("有人在河边倾倒建筑垃圾", "garbage"),
    ("一辆车停在消防通道上好几天了", "illegal_parking"),
    ("盲道上停满了共享单车和电动车", "illegal_parking"),
    ("人行道上的井盖不见了，很危险", "manhole_missing"),
    ("窨井盖破了一个洞，车压过去很危险", "manhole_missing"),
    ("晚上这条街的路灯都不亮，一片漆黑", "streetlight_out"),
    ("公园门口路灯坏了", "streetlight_out"),
    ("暴雨过后地下通道积水很深，无法通行", "waterlogging"),
    ("路口积水排不出去，车辆熄火", "waterlogging"),
]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.train(SAMPLES)


class TestTokens:
    def test_drops_punctuation_stop_words_and_bare_numbers(self):
        words = tokens("请问，3号楼门口的井盖不见了！！")
        assert "井盖" in words
        assert not {"，", "！", "请问", "的", "3"} & set(words)

    def test_drops_phone_id_and_plate_numbers(self):
        words = tokens("我的电话13812345678，身份证11010519491231002X，车牌京A12345，停在3号楼")
        assert not [w for w in words if sum(c.isdigit() for c in w) >= 5], words
        assert {"电话", "身份证", "车牌"} <= set(words)

    def test_folds_full_width_letters_and_case(self):
        assert tokens("ＡＢＣ小区") == tokens("abc小区")

    def test_empty_and_punctuation_only_text_have_no_words(self):
        assert tokens("") == []
        assert tokens("   ") == []
        assert tokens("。。。！？") == []

    def test_importing_jieba_says_nothing_on_stderr(self):
        code = "from yiwang.cityops.triage import tokens; print(len(tokens('路灯不亮')) > 0)"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603 - our own code
                              timeout=120, check=True)
        assert done.stdout.strip() == "True"
        assert done.stderr == ""

    def test_first_use_from_many_threads_loads_jieba_once(self, monkeypatch: pytest.MonkeyPatch):
        import jieba

        calls: list[int] = []
        real = jieba.initialize

        def counting(*args, **kwargs):
            calls.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(triage, "_jieba", None)
        monkeypatch.setattr(jieba, "initialize", counting)
        start = threading.Barrier(8)
        results: list[list[str]] = []

        def work() -> None:
            start.wait()
            results.append(tokens("路边有人乱倒建筑垃圾"))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert calls == [1]
        assert len(results) == 8 and all(r == results[0] for r in results)


class TestTrain:
    def test_learns_the_categories_and_counts(self, classifier: Classifier):
        assert classifier.categories == tuple(sorted(CORPUS))
        assert classifier.samples == len(SAMPLES) == 72
        assert classifier.left_out == ()

    def test_estimates_accuracy_on_a_held_out_split(self, classifier: Classifier):
        assert classifier.accuracy is not None
        assert 0.6 <= classifier.accuracy <= 1.0

    def test_no_accuracy_estimate_when_too_few_events_to_spare(self):
        small = Classifier.train([(t, c) for c, texts in CORPUS.items() for t in texts[:3]][:18])
        assert small.samples == 18
        assert small.accuracy is None

    def test_is_deterministic(self, classifier: Classifier):
        assert Classifier.train(SAMPLES).to_bytes() == classifier.to_bytes()

    def test_two_categories_are_enough(self):
        two = Classifier.train([(t, c) for c in ("garbage", "streetlight_out") for t in CORPUS[c]])
        assert two.categories == ("garbage", "streetlight_out")
        lamp = two.predict("路灯晚上不亮")
        assert lamp is not None and lamp.category == "streetlight_out" and lamp.confidence > 0.5
        rubbish = two.predict("垃圾没人清运")
        assert rubbish is not None and rubbish.category == "garbage" and rubbish.confidence > 0.5

    def test_refuses_a_single_category(self):
        with pytest.raises(TooFewCategories) as err:
            Classifier.train([(t, "garbage") for t in CORPUS["garbage"]])
        assert err.value.code == "triage_too_few_categories"
        assert err.value.params == {"minimum": 2, "per_category": 3, "found": 1}

    def test_refuses_when_only_one_category_has_enough_events(self):
        samples = [(t, "garbage") for t in CORPUS["garbage"]] + [(t, "streetlight_out") for t in CORPUS["streetlight_out"][:2]]
        with pytest.raises(TooFewCategories) as err:
            Classifier.train(samples)
        assert err.value.params["found"] == 1

    def test_refuses_no_samples(self):
        with pytest.raises(TooFewCategories):
            Classifier.train([])

    def test_refuses_too_few_samples(self):
        with pytest.raises(TooFewSamples) as err:
            Classifier.train([(t, c) for c in ("garbage", "streetlight_out") for t in CORPUS[c][:4]])
        assert err.value.code == "triage_too_few_samples"
        assert err.value.params == {"minimum": 10, "found": 8}
        assert str(err.value) == "Training needs at least 10 labelled events with words in them; found 8."

    def test_leaves_out_a_category_with_too_few_events(self):
        samples = SAMPLES + [("桥墩上被人乱涂乱画", "graffiti"), ("墙上有人贴小广告", "graffiti")]
        trained = Classifier.train(samples)
        assert trained.left_out == ("graffiti",)
        assert "graffiti" not in trained.categories
        assert trained.samples == 72
        assert Classifier.from_bytes(trained.to_bytes()).left_out == ("graffiti",)

    def test_does_not_count_texts_without_words(self):
        samples = [(t, c) for c in ("garbage", "streetlight_out") for t in CORPUS[c][:5]] + [("。。。", "garbage")] * 3
        assert Classifier.train(samples).samples == 10

    def test_refuses_a_sample_without_category(self):
        with pytest.raises(InvalidSample) as err:
            Classifier.train([*SAMPLES[:5], ("路灯不亮", "  "), *SAMPLES[5:]])
        assert err.value.params == {"index": 6}

    def test_errors_are_value_errors_with_a_code(self):
        assert issubclass(TriageError, ValueError)
        for cls in (TooFewCategories, TooFewSamples, InvalidSample, InvalidModel, UntrainedClassifier):
            assert issubclass(cls, TriageError) and cls.code.startswith("triage_")


class TestPredict:
    @pytest.mark.parametrize(("text", "expected"), HELD_OUT)
    def test_predicts_held_out_reports(self, classifier: Classifier, text: str, expected: str):
        got = classifier.predict(text)
        assert got is not None
        assert got.category == expected
        assert 0.0 < got.confidence <= 1.0

    def test_clear_reports_pass_the_default_threshold(self, classifier: Classifier):
        clear = [classifier.predict(t) for t in ("路灯不亮", "井盖不见了", "占道经营摆摊", "垃圾堆放没人清运")]
        assert all(p is not None and p.confidence >= CONFIDENCE_THRESHOLD for p in clear), clear

    def test_unrelated_text_gets_a_low_confidence(self, classifier: Classifier):
        related = classifier.predict("路中间的井盖丢了")
        unrelated = classifier.predict("我想咨询一下社保卡怎么补办")
        assert related is not None and unrelated is not None
        assert unrelated.confidence < CONFIDENCE_THRESHOLD < related.confidence
        assert unrelated.confidence < related.confidence / 2

    def test_text_without_words_predicts_nothing(self, classifier: Classifier):
        assert classifier.predict("") is None
        assert classifier.predict("！！！") is None

    def test_untrained_predicts_nothing(self):
        untrained = Classifier()
        assert untrained.predict("路灯不亮") is None
        assert untrained.categories == ()
        assert untrained.samples == 0 and untrained.accuracy is None

    def test_a_prediction_is_a_frozen_value(self, classifier: Classifier):
        p = classifier.predict("路灯不亮")
        assert isinstance(p, Prediction)
        with pytest.raises(AttributeError):
            p.category = "garbage"  # type: ignore[misc]

    def test_agrees_with_scikit_learn(self, classifier: Classifier):
        """The numpy scoring reproduces the fitted pipeline's probabilities."""
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        docs = [triage._features(tokens(t)) for t, _ in SAMPLES]
        vec = TfidfVectorizer(analyzer=triage._identity, sublinear_tf=True, max_features=triage.MAX_FEATURES)
        model = LogisticRegression(C=triage.REGULARISATION_C, max_iter=2000, random_state=0)
        model.fit(vec.fit_transform(docs), [c for _, c in SAMPLES])
        for text, _ in HELD_OUT:
            expected = model.predict_proba(vec.transform([triage._features(tokens(text))]))[0]
            got = classifier.predict(text)
            assert got is not None
            assert got.category == model.classes_[int(np.argmax(expected))]
            assert got.confidence == pytest.approx(float(expected.max()), abs=1e-4)


class TestSerialisation:
    def test_round_trip_predicts_identically(self, classifier: Classifier):
        again = Classifier.from_bytes(classifier.to_bytes())
        assert again.categories == classifier.categories
        assert again.samples == classifier.samples and again.accuracy == classifier.accuracy
        for text in [t for t, _ in HELD_OUT] + ["我想咨询一下社保卡怎么补办"]:
            assert again.predict(text) == classifier.predict(text)
        assert again.to_bytes() == classifier.to_bytes()

    def test_is_plain_json_with_the_model_arrays(self, classifier: Classifier):
        doc = json.loads(classifier.to_bytes())
        assert doc["format"] == "yiwang.cityops.triage" and doc["version"] == 1
        assert doc["categories"] == list(classifier.categories)
        v = len(doc["vocabulary"])
        assert v > 100 and "井盖" in doc["vocabulary"]
        assert len(doc["idf"]) == v
        assert [len(row) for row in doc["coef"]] == [v] * 6
        assert len(doc["intercept"]) == 6

    @pytest.mark.parametrize("data", [
        b"", b"\x80\x04\x95garbage", b"\xff\xfe\x00", b"not json", b"[1, 2, 3]", b"null",
        json.dumps({"format": "something.else", "version": 1}).encode(),
        b"\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.",  # a pickle
    ])
    def test_refuses_garbage(self, data: bytes):
        with pytest.raises(InvalidModel) as err:
            Classifier.from_bytes(data)
        assert err.value.code == "triage_invalid_model"

    @pytest.mark.parametrize(("change", "reason"), [
        (lambda d: d.update(version=2), "version 2 is not supported"),
        (lambda d: d.update(categories=["garbage"]), "fewer than two categories"),
        (lambda d: d.update(categories=d["categories"][:-1]), "coef does not have the shape"),
        (lambda d: d["idf"].pop(), "idf does not have the shape"),
        (lambda d: d["coef"][2].append(0.5), "coef does not have the shape"),
        (lambda d: d["coef"][0].__setitem__(0, "1"), "coef does not have the shape"),
        (lambda d: d["intercept"].pop(), "intercept does not have the shape"),
        (lambda d: d["vocabulary"].__setitem__(1, d["vocabulary"][0]), "vocabulary has duplicates"),
        (lambda d: d.update(vocabulary=None), "vocabulary is not a list of names"),
        (lambda d: d.update(left_out=[3]), "left_out is not a list of names"),
        (lambda d: d.update(samples=-1), "samples is not a count"),
        (lambda d: d.update(accuracy=1.5), "accuracy is not between 0 and 1"),
        (lambda d: d["idf"].__setitem__(0, 0.0), "idf has values that are not positive"),
    ])
    def test_refuses_a_model_of_the_wrong_shape(self, classifier: Classifier, change, reason: str):
        doc = json.loads(classifier.to_bytes())
        change(doc)
        with pytest.raises(InvalidModel) as err:
            Classifier.from_bytes(json.dumps(doc).encode())
        assert reason in str(err.value)

    def test_refuses_an_overflowing_number(self, classifier: Classifier):
        doc = json.loads(classifier.to_bytes())
        doc["intercept"][0] = "overflow"
        text = json.dumps(doc).replace('"overflow"', "1e400")
        with pytest.raises(InvalidModel, match="intercept has values that are not finite"):
            Classifier.from_bytes(text.encode())

    def test_refuses_nan(self, classifier: Classifier):
        text = classifier.to_bytes().decode().replace('"intercept":[', '"intercept":[NaN,', 1)
        with pytest.raises(InvalidModel, match="not JSON"):
            Classifier.from_bytes(text.encode())

    def test_refuses_an_oversize_model(self, monkeypatch: pytest.MonkeyPatch, classifier: Classifier):
        data = classifier.to_bytes()
        monkeypatch.setattr(triage, "MAX_MODEL_BYTES", len(data) - 1)
        with pytest.raises(InvalidModel, match="larger than"):
            Classifier.from_bytes(data)

    def test_an_untrained_classifier_cannot_be_written(self):
        with pytest.raises(UntrainedClassifier):
            Classifier().to_bytes()


class TestSimilarity:
    def test_near_identical_reports_are_similar(self):
        assert text_similarity("小区门口的井盖不见了，很危险", "小区门口井盖不见了，太危险了") >= SIMILARITY_THRESHOLD
        assert text_similarity("人民路路灯不亮，晚上一片漆黑", "人民路的路灯都不亮了，晚上黑漆漆的") >= SIMILARITY_THRESHOLD
        assert text_similarity("学校门口有人摆摊卖烧烤", "学校门口烧烤摊占道经营") >= SIMILARITY_THRESHOLD
        assert text_similarity("桥洞下积水很深有车被困", "桥洞积水，一辆车被困在水里") >= SIMILARITY_THRESHOLD

    def test_the_same_text_is_identical(self):
        assert text_similarity("路边有人乱倒建筑垃圾", "路边有人乱倒建筑垃圾") == pytest.approx(1.0)

    def test_unrelated_reports_are_not_similar(self):
        assert text_similarity("小区门口的井盖不见了，很危险", "学校门口有人摆摊卖烧烤") < SIMILARITY_THRESHOLD
        assert text_similarity("人民路路灯不亮", "地下通道积水很深") < SIMILARITY_THRESHOLD

    def test_is_symmetric_and_bounded(self):
        a, b = "路口积水排不出去", "暴雨后路口大面积积水"
        assert text_similarity(a, b) == pytest.approx(text_similarity(b, a))
        assert 0.0 < text_similarity(a, b) < 1.0

    def test_texts_without_words_are_not_similar_to_anything(self):
        assert text_similarity("", "路灯不亮") == 0.0
        assert text_similarity("！！", "！！") == 0.0
