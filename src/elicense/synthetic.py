"""Synthetic, realistic license data for demos, tests and benchmarks — never real people.

Names are drawn from common surnames and given-name characters, identifiers are valid
(right check characters) but generated, addresses are plausible Zibo addresses. The
randomness is a ``random.Random`` passed in (seeded for reproducible demo data); it is not
for anything secret.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from elicense.catalog import FaceField, IdentifierScheme, LicenseType, ValueType
from elicense.identifiers import build_license_id, resident_check_char, uscc_check_char
from elicense.identifiers.uscc import ALPHABET

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许"
    "韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅文辉鹏宇浩然欣怡子涵梓轩雨"
ETHNICITIES = ("汉", "汉", "汉", "汉", "回", "满", "蒙古", "壮", "苗")
DISTRICTS = (
    ("370302", "淄川区"),
    ("370303", "张店区"),
    ("370304", "博山区"),
    ("370305", "临淄区"),
    ("370306", "周村区"),
)
STREETS = ("华光路", "人民西路", "柳泉路", "共青团路", "西五路", "联通路", "金晶大道")
COMPANIES = ("鲁中", "齐都", "华光", "泰和", "金山", "瑞丰", "众诚", "博远")
TRADES = ("商贸", "科技", "建设工程", "餐饮管理", "医药", "物流", "食品")


def person_name(rng: random.Random) -> str:
    if rng.random() < 0.03:
        return rng.choice(["欧阳", "司马", "上官"]) + "".join(rng.choices(GIVEN, k=2))
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))


def resident_id(
    rng: random.Random,
    *,
    born: dt.date | None = None,
    female: bool | None = None,
    region: str | None = None,
) -> str:
    region = region or rng.choice(DISTRICTS)[0]
    born = born or dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 65))
    seq = rng.randrange(0, 500) * 2 + (0 if female else 1 if female is False else rng.randrange(2))
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + resident_check_char(first17)


def credit_code(rng: random.Random, *, region: str = "370303", prefix: str = "91") -> str:
    body = (
        prefix
        + region
        + "".join(rng.choices(ALPHABET[:10], k=2))
        + "".join(rng.choices(ALPHABET, k=7))
    )
    return body + uscc_check_char(body)


def address(rng: random.Random) -> str:
    _, district = rng.choice(DISTRICTS)
    return (
        f"山东省淄博市{district}{rng.choice(STREETS)}{rng.randrange(1, 300)}号"
        f"{rng.randrange(1, 30)}号楼{rng.randrange(1, 6)}单元{rng.randrange(101, 2602)}室"
    )


def company(rng: random.Random) -> str:
    return f"淄博{rng.choice(COMPANIES)}{rng.choice(TRADES)}有限公司"


def _date(rng: random.Random, key: str, today: dt.date) -> str:
    if "until" in key or "expir" in key or key.endswith("_to"):
        day = today + dt.timedelta(days=rng.randrange(200, 3650))
    elif "birth" in key:
        day = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
    else:
        day = today - dt.timedelta(days=rng.randrange(30, 3650))
    return day.isoformat()


def _text(rng: random.Random, f: FaceField, holder_name: str) -> str:
    key, label = f.key, f.label
    if key == "name" or key.endswith("_name") or "姓名" in label or label in ("持证人", "权利人"):
        return holder_name if key == "name" else person_name(rng)
    if (
        "address" in key
        or "住址" in label
        or "住所" in label
        or "坐落" in label
        or key == "location"
    ):
        return address(rng)
    if key == "ethnicity" or "民族" in label:
        return rng.choice(ETHNICITIES)
    if "authority" in key or "机关" in label or "机构" in label:
        return "淄博市" + rng.choice(("公安局", "市场监督管理局", "自然资源和规划局", "民政局"))
    if "number" in key or "编号" in label or "号码" in label or key.endswith("_no"):
        return "".join(rng.choices("0123456789", k=12))
    if "scope" in key or "范围" in label:
        return "许可项目：食品经营；一般项目：日用百货销售。"
    return label + "示例" + str(rng.randrange(1, 100))


def face_values(
    license_type: LicenseType,
    rng: random.Random,
    *,
    holder: str,
    today: dt.date,
    holder_name: str | None = None,
) -> dict[str, Any]:
    """Values for every field of the type that validate against the catalog."""
    name = holder_name or (person_name(rng) if holder[:17].isdigit() else company(rng))
    out: dict[str, Any] = {}
    for f in license_type.fields:
        if f.value_type is ValueType.TEXT:
            out[f.key] = _text(rng, f, name)
        elif f.value_type is ValueType.DATE:
            out[f.key] = _date(rng, f.key, today)
        elif f.value_type is ValueType.ENUM:
            out[f.key] = rng.choice(f.options)
        elif f.value_type is ValueType.NUMBER:
            out[f.key] = rng.randrange(1, 500)
        elif f.value_type is ValueType.IMAGE:
            out[f.key] = "sha256:" + rng.randbytes(32).hex()
        elif f.scheme is IdentifierScheme.RESIDENT_ID:
            out[f.key] = (
                holder if f.key == "id_number" and holder[:17].isdigit() else resident_id(rng)
            )
        elif f.scheme is IdentifierScheme.USCC:
            out[f.key] = holder if not holder[:17].isdigit() else credit_code(rng)
        else:
            out[f.key] = str(
                build_license_id(
                    license_type.code,
                    credit_code(rng, prefix="11"),
                    str(rng.randrange(10**6, 10**9)),
                )
            )
    if "sex" in out and holder[:17].isdigit():
        out["sex"] = "男" if int(holder[16]) % 2 else "女"
    if "birth_date" in out and holder[:17].isdigit():
        out["birth_date"] = f"{holder[6:10]}-{holder[10:12]}-{holder[12:14]}"
    return out
