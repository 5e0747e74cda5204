"""The demo service catalogue: 50+ items of the demo city's departments and a few bundles (一件事).

Items are city-level (implemented by the ``31-…`` bureaus) and apply to every district. Materials the
platform already holds name their stand-in: the person or entity registry, or a certificate an
earlier item issued (营业执照 ``BL``, 食品经营许可证 ``FBL`` …). Loaded through the catalogue's own
import, so the demo exercises the same checks as an administrator's file.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from yiwang.catalog import service as catalog_service
from yiwang.core.actor import SYSTEM

CITY = "31"

#: Fields shared between forms: the same name always means the same thing, so bundles merge them.
FIELDS: dict[str, dict[str, Any]] = {
    "applicant_name": {"type": "string", "title": "申请人姓名", "minLength": 2, "maxLength": 50},
    "id_number": {"type": "string", "title": "身份证号码", "format": "id_number"},
    "mobile": {"type": "string", "title": "联系电话", "format": "mobile"},
    "entity_name": {"type": "string", "title": "企业（单位）名称", "minLength": 2, "maxLength": 100},
    "uscc": {"type": "string", "title": "统一社会信用代码", "format": "uscc"},
    "legal_representative": {"type": "string", "title": "法定代表人（负责人）", "maxLength": 50},
    "business_address": {"type": "string", "title": "经营场所地址", "minLength": 4, "maxLength": 200},
    "area_code": {"type": "string", "title": "所在街道（乡镇）", "pattern": "^31[0-9]{4,13}$"},
    "business_scope": {"type": "string", "title": "经营范围", "maxLength": 1000},
    "registered_capital": {"type": "number", "title": "注册资本（万元）", "minimum": 0},
    "floor_area": {"type": "number", "title": "经营面积（平方米）", "minimum": 1, "maximum": 100000},
    "employees": {"type": "integer", "title": "从业人员数", "minimum": 0, "maximum": 100000},
    "start_date": {"type": "string", "title": "拟开业日期", "format": "date"},
    "project_name": {"type": "string", "title": "项目名称", "maxLength": 100},
    "project_address": {"type": "string", "title": "项目地址", "maxLength": 200},
    "remarks": {"type": "string", "title": "备注", "maxLength": 1000},
    "food_category": {"type": "string", "title": "主体业态", "enum": ["catering", "retail", "canteen", "online"],
                      "x-enum-labels": ["餐饮服务", "食品销售", "单位食堂", "网络经营"]},
    "sign_text": {"type": "string", "title": "招牌文字内容", "maxLength": 50},
    "sign_size": {"type": "string", "title": "招牌尺寸（长×宽，米）", "pattern": "^[0-9.]+[x×*][0-9.]+$"},
    "child_name": {"type": "string", "title": "新生儿姓名", "minLength": 1, "maxLength": 30},
    "birth_date": {"type": "string", "title": "出生日期", "format": "date"},
    "birth_hospital": {"type": "string", "title": "出生医院", "maxLength": 100},
    "gender": {"type": "string", "title": "性别", "enum": ["male", "female"], "x-enum-labels": ["男", "女"]},
}
WIDGETS = {"business_address": "textarea", "business_scope": "textarea", "project_address": "textarea",
           "remarks": "textarea", "area_code": "area"}
REGISTRY = {"applicant_name": "person.name", "id_number": "person.id_number", "mobile": "person.phone",
            "entity_name": "entity.name", "uscc": "entity.uscc"}
PERSON = ["applicant_name", "id_number", "mobile"]
ENTITY = ["entity_name", "uscc", "legal_representative", "mobile"]


def form(groups: list[tuple[str, list[str]]], required: list[str] | None = None) -> dict[str, Any]:
    """A form of shared fields in titled groups; every field is required unless ``required`` says."""
    names = [n for _, fields in groups for n in fields]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {n: FIELDS[n] for n in names},
        "required": required if required is not None else [n for n in names if n != "remarks"],
        "x-layout": {"groups": [{"title": t, "fields": f} for t, f in groups],
                     "widgets": {n: w for n, w in WIDGETS.items() if n in names},
                     "registry": {n: r for n, r in REGISTRY.items() if n in names}},
    }


ID_CARD = {"code": "id_card", "name": "申请人居民身份证", "required": True, "stand_in": {"registry": "person"}}
LICENCE = {"code": "business_licence", "name": "营业执照", "required": True, "stand_in": {"certificate": "BL"}}
ENTITY_REC = {"code": "entity_record", "name": "法人登记信息", "required": True, "stand_in": {"registry": "entity"}}


def mat(code: str, name: str, required: bool = True) -> dict[str, Any]:
    return {"code": code, "name": name, "required": required, "stand_in": None}


def item(
    code: str, name: str, dept: str, kind: str, legal: int, promised: int, depth: int, materials: list[dict[str, Any]],
    groups: list[tuple[str, list[str]]], keywords: list[str], *, cert: tuple[str, str] | None = None,
    fee: tuple[str, float | None] = ("不收费", None), process: str = "review_then_approve", description: str = "",
) -> dict[str, Any]:
    return {
        "code": code, "name": name, "description": description or f"{name}（上海市）", "department": f"{CITY}-{dept}",
        "kind": kind, "legal_limit_days": legal, "promised_limit_days": promised, "fee_text": fee[0],
        "fee_amount": fee[1], "online_depth": depth, "areas": [CITY], "materials": materials,
        "form": form(groups), "certificate_type": {"code": cert[0], "name": cert[1]} if cert else None,
        "process_key": process, "keywords": keywords,
    }


P = [("申请人", PERSON)]
E = [("申请单位", ENTITY)]
SHOP = [("经营场所", ["business_address", "area_code"])]


def build_document() -> dict[str, Any]:
    """The demo catalogue as the document ``import_catalog`` reads."""
    L, C, B, S, OT = "licence", "confirmation", "benefit", "public_service", "other"
    items = [
        # 市场监管
        item("SCJG-001", "企业设立登记", "SCJG", C, 15, 3, 4,
             [ID_CARD, mat("articles", "公司章程"), mat("premises", "住所使用证明")],
             [("申请人", PERSON), ("企业信息", ["entity_name", "registered_capital", "business_scope"]), *SHOP],
             ["营业执照", "开公司", "注册公司", "公司注册", "设立登记", "开办企业"], cert=("BL", "营业执照"),
             description="新设有限责任公司、股份有限公司等企业的设立登记，核发营业执照。"),
        item("SCJG-002", "个体工商户设立登记", "SCJG", C, 15, 1, 4, [ID_CARD, mat("premises", "经营场所使用证明")],
             [("申请人", PERSON), ("经营信息", ["entity_name", "business_scope"]), *SHOP],
             ["营业执照", "个体户", "个体工商户", "开店"], cert=("BL", "营业执照"),
             description="个体工商户的设立登记，核发营业执照。"),
        item("SCJG-003", "食品经营许可", "SCJG", L, 20, 10, 3,
             [LICENCE, ID_CARD, mat("layout", "经营场所平面布局图"), mat("safety_rules", "食品安全管理制度")],
             [("申请人", PERSON), ("经营信息", ["entity_name", "food_category", "floor_area"]), *SHOP],
             ["食品经营许可证", "餐饮", "餐馆", "饭店", "小吃店", "食品销售"], cert=("FBL", "食品经营许可证"),
             description="从事食品销售和餐饮服务的，应当取得食品经营许可。"),
        item("SCJG-004", "企业变更登记", "SCJG", C, 15, 3, 4, [LICENCE, ENTITY_REC, mat("resolution", "变更决议")],
             [*E, ("变更事项", ["business_scope", "remarks"])], ["营业执照变更", "变更登记", "改名", "变更经营范围"],
             cert=("BL", "营业执照")),
        item("SCJG-005", "企业注销登记", "SCJG", C, 15, 3, 4, [LICENCE, ENTITY_REC, mat("liquidation", "清算报告")],
             [*E, ("注销信息", ["remarks"])], ["注销公司", "公司注销", "关闭企业"]),
        item("SCJG-006", "个体工商户注销登记", "SCJG", C, 15, 1, 4, [LICENCE, ID_CARD],
             [*P, ("注销信息", ["entity_name", "remarks"])], ["个体户注销", "关店"]),
        item("SCJG-007", "食品生产许可", "SCJG", L, 20, 15, 3, [LICENCE, mat("process", "食品生产工艺流程图")],
             [*E, ("生产信息", ["business_scope", "floor_area"]), *SHOP], ["食品厂", "食品生产", "SC证"],
             cert=("FPL", "食品生产许可证")),
        item("SCJG-008", "药品零售企业许可", "SCJG", L, 30, 20, 3, [LICENCE, mat("pharmacist", "执业药师注册证")],
             [*E, *SHOP, ("经营信息", ["floor_area"])], ["药店", "开药店", "药品经营许可证"],
             cert=("DRL", "药品经营许可证")),
        item("SCJG-009", "第二类医疗器械经营备案", "SCJG", C, 5, 1, 4, [LICENCE, ENTITY_REC],
             [*E, *SHOP], ["医疗器械备案", "二类医疗器械"]),
        item("SCJG-010", "特种设备使用登记", "SCJG", C, 15, 5, 3, [LICENCE, mat("inspection", "特种设备监督检验证明")],
             [*E, ("设备信息", ["project_address", "remarks"])], ["电梯登记", "锅炉", "特种设备"],
             cert=("SEU", "特种设备使用登记证")),
        item("SCJG-011", "广告发布登记", "SCJG", C, 10, 5, 4, [LICENCE], [*E, ("登记信息", ["remarks"])],
             ["广告发布"]),
        item("SCJG-012", "计量器具强制检定", "SCJG", S, 20, 10, 2, [LICENCE], [*E, ("器具信息", ["remarks"])],
             ["电子秤", "检定", "计量"]),
        # 绿化市容
        item("LHSR-001", "户外招牌设置许可", "LHSR", L, 20, 5, 3,
             [LICENCE, mat("sign_design", "招牌设计效果图"), mat("owner_consent", "房屋产权人同意书")],
             [*P, ("招牌信息", ["entity_name", "sign_text", "sign_size"]), *SHOP],
             ["招牌", "店招", "门头", "户外招牌"], cert=("SIGN", "户外招牌设置许可决定书")),
        item("LHSR-002", "户外广告设施设置许可", "LHSR", L, 20, 10, 3, [LICENCE, mat("design", "设计图")],
             [*E, ("设施信息", ["project_address", "sign_size"])], ["广告牌", "户外广告"],
             cert=("ADV", "户外广告设施设置许可决定书")),
        item("LHSR-003", "临时占用城市绿地审批", "LHSR", L, 20, 10, 3, [ENTITY_REC, mat("plan", "占用方案")],
             [*E, ("项目信息", ["project_name", "project_address", "start_date"])], ["占用绿地", "绿地"]),
        item("LHSR-004", "砍伐、迁移城市树木审批", "LHSR", L, 20, 10, 3, [ID_CARD, mat("tree_plan", "树木迁移方案")],
             [*P, ("项目信息", ["project_address", "remarks"])], ["砍树", "迁树", "移树"]),
        item("LHSR-005", "生活垃圾清运服务申请", "LHSR", S, 10, 3, 4, [ENTITY_REC],
             [*E, ("清运信息", ["business_address", "remarks"])], ["垃圾清运", "垃圾处理"]),
        item("LHSR-006", "建筑垃圾处置核准", "LHSR", L, 20, 7, 3, [LICENCE, mat("contract", "运输合同")],
             [*E, ("项目信息", ["project_name", "project_address"])], ["建筑垃圾", "渣土", "装修垃圾"],
             cert=("CWD", "建筑垃圾处置核准文件")),
        # 卫健
        item("WJW-001", "医疗机构执业登记", "WJW", L, 45, 20, 3, [LICENCE, mat("staff_list", "医务人员名单及资质")],
             [*E, *SHOP, ("机构信息", ["floor_area", "employees"])], ["诊所", "医院", "医疗机构", "开诊所"],
             cert=("MIL", "医疗机构执业许可证")),
        item("WJW-002", "公共场所卫生许可", "WJW", L, 20, 5, 3, [LICENCE, mat("hygiene", "卫生管理制度")],
             [*P, ("经营信息", ["entity_name", "floor_area"]), *SHOP],
             ["卫生许可证", "美容美发", "理发店", "宾馆", "游泳馆"], cert=("PHL", "公共场所卫生许可证")),
        item("WJW-003", "出生医学证明办理", "WJW", C, 10, 1, 3, [ID_CARD, mat("birth_record", "住院分娩记录")],
             [*P, ("新生儿信息", ["child_name", "gender", "birth_date", "birth_hospital"])],
             ["出生证", "出生医学证明", "新生儿", "生孩子"], cert=("BMC", "出生医学证明")),
        item("WJW-004", "医师执业注册", "WJW", L, 20, 10, 4, [ID_CARD, mat("qualification", "医师资格证书")],
             [*P, ("执业信息", ["entity_name", "remarks"])], ["医师注册", "医生执业"], cert=("PRL", "医师执业证书")),
        item("WJW-005", "护士执业注册", "WJW", L, 20, 10, 4, [ID_CARD, mat("qualification", "护士执业资格考试成绩")],
             [*P, ("执业信息", ["entity_name"])], ["护士注册"], cert=("NRL", "护士执业证书")),
        item("WJW-006", "预防接种证办理", "WJW", S, 5, 1, 2, [ID_CARD, mat("birth_cert", "出生医学证明")],
             [*P, ("儿童信息", ["child_name", "gender", "birth_date"])], ["疫苗", "打疫苗", "接种证", "新生儿"],
             cert=("VAC", "预防接种证")),
        item("WJW-007", "放射诊疗许可", "WJW", L, 20, 15, 3, [LICENCE, mat("radiation", "放射防护评价报告")],
             [*E, *SHOP], ["放射诊疗", "X光"], cert=("RAD", "放射诊疗许可证")),
        item("WJW-008", "母婴保健技术服务执业许可", "WJW", L, 20, 15, 3, [LICENCE], [*E, *SHOP], ["母婴保健"]),
        # 住建
        item("ZJW-001", "建筑工程施工许可", "ZJW", L, 7, 5, 4, [LICENCE, mat("land", "用地批准文件"),
                                                               mat("drawings", "施工图设计文件审查合格书")],
             [*E, ("项目信息", ["project_name", "project_address", "start_date"])],
             ["施工许可证", "盖房子", "开工", "建筑施工"], cert=("CON", "建筑工程施工许可证")),
        item("ZJW-002", "建设工程竣工验收备案", "ZJW", C, 15, 5, 4, [LICENCE, mat("acceptance", "竣工验收报告")],
             [*E, ("项目信息", ["project_name", "project_address"])], ["竣工备案", "竣工验收"]),
        item("ZJW-003", "商品房预售许可", "ZJW", L, 10, 7, 3, [LICENCE, mat("land_cert", "不动产权证书")],
             [*E, ("项目信息", ["project_name", "project_address"])], ["预售证", "卖房", "楼盘预售"],
             cert=("PRS", "商品房预售许可证")),
        item("ZJW-004", "建筑业企业资质核准", "ZJW", L, 20, 15, 4, [LICENCE, mat("staff", "人员证书")],
             [*E, ("资质信息", ["remarks"])], ["建筑资质", "施工资质"], cert=("CQ", "建筑业企业资质证书")),
        item("ZJW-005", "住宅室内装饰装修备案", "ZJW", C, 5, 1, 4, [ID_CARD, mat("design", "装修方案")],
             [*P, ("房屋信息", ["project_address", "start_date"])], ["装修备案", "装修", "家装"]),
        item("ZJW-006", "公共租赁住房申请", "ZJW", B, 30, 20, 3, [ID_CARD, mat("income", "收入证明")],
             [*P, ("家庭信息", ["remarks"])], ["公租房", "廉租房", "租房补贴"]),
        # 公安
        item("GAJ-001", "居住证办理", "GAJ", C, 15, 7, 3, [ID_CARD, mat("residence", "居住证明")],
             [*P, ("居住信息", ["business_address", "area_code"])], ["居住证", "暂住证", "外地人"],
             cert=("RP", "上海市居住证")),
        item("GAJ-002", "出生登记（户口申报）", "GAJ", C, 5, 1, 3, [ID_CARD, mat("birth_cert", "出生医学证明")],
             [*P, ("新生儿信息", ["child_name", "gender", "birth_date"])],
             ["上户口", "报户口", "落户", "新生儿", "户口登记"]),
        item("GAJ-003", "居民身份证换领", "GAJ", C, 60, 20, 2, [ID_CARD], [*P], ["身份证", "换身份证", "身份证到期"],
             fee=("工本费20元", 20), cert=("IDC", "居民身份证")),
        item("GAJ-004", "居民身份证补领", "GAJ", C, 60, 20, 2, [ID_CARD], [*P], ["身份证丢了", "补办身份证"],
             fee=("工本费40元", 40)),
        item("GAJ-005", "临时居民身份证办理", "GAJ", C, 3, 1, 2, [ID_CARD], [*P], ["临时身份证"], fee=("工本费10元", 10)),
        item("GAJ-006", "户口迁入", "GAJ", C, 20, 10, 3, [ID_CARD, mat("move_cert", "准予迁入证明")],
             [*P, ("迁入信息", ["business_address", "area_code"])], ["落户", "户口迁移", "迁户口"]),
        item("GAJ-007", "无犯罪记录证明", "GAJ", C, 7, 3, 4, [ID_CARD], [*P, ("用途", ["remarks"])],
             ["无犯罪证明", "良民证"], cert=("NCR", "无犯罪记录证明")),
        item("GAJ-008", "机动车登记", "GAJ", C, 5, 1, 3, [ID_CARD, mat("invoice", "购车发票")],
             [*P, ("车辆信息", ["remarks"])], ["上牌", "新车上牌", "车牌"]),
        item("GAJ-009", "犬只登记", "GAJ", C, 10, 5, 3, [ID_CARD, mat("vaccine", "犬只免疫证明")],
             [*P, ("犬只信息", ["remarks", "business_address"])], ["养狗", "狗证", "养犬"], fee=("不收费", 0)),
        # 消防
        item("XFJY-001", "公众聚集场所投入使用、营业前消防安全检查", "XFJY", L, 10, 5, 3,
             [LICENCE, mat("fire_plan", "消防安全制度和应急预案")],
             [*E, *SHOP, ("场所信息", ["floor_area", "start_date"])],
             ["消防检查", "消防安全检查", "开业消防", "消防许可"], cert=("FSI", "消防安全检查合格证")),
        item("XFJY-002", "建设工程消防验收", "XFJY", L, 15, 10, 3, [LICENCE, mat("fire_report", "消防验收申请报告")],
             [*E, ("项目信息", ["project_name", "project_address"])], ["消防验收"]),
        item("XFJY-003", "建设工程消防验收备案", "XFJY", C, 5, 3, 4, [LICENCE], [*E, ("项目信息", ["project_name"])],
             ["消防备案"]),
        item("XFJY-004", "大型焰火燃放许可", "XFJY", L, 20, 10, 2, [ENTITY_REC, mat("plan", "燃放作业方案")],
             [*E, ("活动信息", ["project_address", "start_date"])], ["烟花", "焰火"]),
        # 水务
        item("SWJ-001", "城镇污水排入排水管网许可", "SWJ", L, 15, 10, 3, [LICENCE, mat("drain_plan", "排水接管图")],
             [*E, *SHOP, ("排水信息", ["remarks"])], ["排水许可", "排水证", "污水排放", "隔油池"],
             cert=("DRN", "城镇污水排入排水管网许可证")),
        item("SWJ-002", "取水许可", "SWJ", L, 45, 30, 3, [LICENCE, mat("water_report", "水资源论证报告")],
             [*E, ("项目信息", ["project_name", "project_address"])], ["取水", "打井"], cert=("WTR", "取水许可证")),
        item("SWJ-003", "占用、挖掘河道审批", "SWJ", L, 20, 15, 3, [ENTITY_REC], [*E, ("项目信息", ["project_address"])],
             ["河道", "挖河"]),
        item("SWJ-004", "供水接入申请", "SWJ", S, 10, 5, 4, [ID_CARD], [*P, ("接入地址", ["business_address"])],
             ["接水", "自来水开户", "水表"]),
        # 城管
        item("CGZF-001", "占用道路设摊审批", "CGZF", L, 20, 10, 3, [ID_CARD, mat("site", "设摊位置图")],
             [*P, ("设摊信息", ["business_address", "start_date"])], ["摆摊", "设摊", "夜市"]),
        item("CGZF-002", "临时占用道路审批", "CGZF", L, 20, 5, 3, [ENTITY_REC, mat("plan", "占道方案")],
             [*E, ("占道信息", ["project_address", "start_date"])], ["占道", "占用道路"]),
        item("CGZF-003", "城市道路挖掘许可", "CGZF", L, 20, 10, 3, [LICENCE, mat("plan", "施工方案")],
             [*E, ("项目信息", ["project_name", "project_address"])], ["挖路", "道路开挖"]),
        # 数据局 / 公共服务
        item("SJJ-001", "公共数据开放申请", "SJJ", S, 20, 10, 4, [ENTITY_REC], [*E, ("用途", ["remarks"])],
             ["数据开放", "公共数据"], process="one_step"),
        item("SJJ-002", "电子证照授权使用", "SJJ", OT, 5, 1, 4, [ID_CARD], [*P, ("用途", ["remarks"])],
             ["电子证照", "亮证"], process="one_step"),
        item("CYZX-001", "城市运行信息公开申请", "CYZX", S, 20, 15, 4, [ID_CARD], [*P, ("申请内容", ["remarks"])],
             ["信息公开"], process="one_step"),
    ]
    bundles = [
        {"code": "YJS-001", "name": "开办餐饮店", "items": ["SCJG-001", "SCJG-003", "LHSR-001"],
         "description": "开饭店一次办：营业执照、食品经营许可证、户外招牌设置许可一表申请、并联审批。",
         "keywords": ["开餐馆", "开饭店", "开饭馆", "开餐厅", "餐饮店", "饭店", "餐馆", "饭馆", "餐厅", "小吃店"]},
        {"code": "YJS-002", "name": "开办便利店", "items": ["SCJG-002", "SCJG-003", "LHSR-001"],
         "description": "开便利店一次办：个体工商户营业执照、食品经营许可证、户外招牌设置许可。",
         "keywords": ["便利店", "小卖部", "超市", "开超市", "开小店"]},
        {"code": "YJS-003", "name": "开办美容美发店", "items": ["SCJG-002", "WJW-002", "LHSR-001"],
         "description": "开理发店一次办：营业执照、公共场所卫生许可证、户外招牌设置许可。",
         "keywords": ["理发店", "美发店", "美容院", "开理发店", "美甲"]},
        {"code": "YJS-004", "name": "新生儿出生一件事", "items": ["WJW-003", "WJW-006", "GAJ-002"],
         "description": "出生医学证明、预防接种证、户口登记一次办。",
         "keywords": ["生孩子", "生小孩", "宝宝出生", "新生儿", "出生"]},
    ]
    return {"items": items, "bundles": bundles}


def load_catalog(session: Session) -> dict[str, Any]:
    """Publish the demo catalogue as SYSTEM (in the caller's transaction); the departments of the demo
    city must exist. Returns the counts."""
    doc = json.dumps(build_document(), ensure_ascii=False)
    report = catalog_service.import_catalog(session, SYSTEM, doc, "json")
    return {"items": report.items_created + report.items_updated + report.items_unchanged,
            "bundles": report.bundles_created + report.bundles_updated + report.bundles_unchanged}
