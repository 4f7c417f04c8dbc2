"""One exception type, stable dotted codes, and the registry they come from.

Callers (the service, the CLI, platforms embedding the library) branch on ``code``, never
on message text, so codes are a public contract: add new ones, never rename or reuse one.
Messages are written for operators and must never contain personal data: details carry
field names, positions and reasons, not the values that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """What a code means, for docs, HTTP mapping and translated UI text."""

    code: str
    http_status: int
    title_zh: str
    title_en: str
    description: str


_SPECS: tuple[ErrorSpec, ...] = (
    # --- resident identity numbers (GB 11643) ---
    ErrorSpec(
        "resident_id.bad_length",
        422,
        "身份号码长度错误",
        "Resident ID has the wrong length",
        "A resident ID number must have 18 characters (or 15 for legacy numbers).",
    ),
    ErrorSpec(
        "resident_id.bad_character",
        422,
        "身份号码含非法字符",
        "Resident ID has an invalid character",
        "Only digits are allowed, and X only as the last character.",
    ),
    ErrorSpec(
        "resident_id.bad_region",
        422,
        "身份号码地址码无效",
        "Resident ID has an unknown region",
        "The first two digits are not a province-level division code of GB/T 2260.",
    ),
    ErrorSpec(
        "resident_id.bad_date",
        422,
        "身份号码出生日期无效",
        "Resident ID has an invalid birth date",
        "Digits 7-14 are not a real calendar date, or lie before 1800.",
    ),
    ErrorSpec(
        "resident_id.future_date",
        422,
        "身份号码出生日期在未来",
        "Resident ID birth date is in the future",
        "The birth date lies after the reference date passed in.",
    ),
    ErrorSpec(
        "resident_id.bad_check",
        422,
        "身份号码校验码错误",
        "Resident ID check character is wrong",
        "The ISO 7064 MOD 11-2 check character does not match the first 17 digits.",
    ),
    # --- unified social credit codes (GB 32100) ---
    ErrorSpec(
        "uscc.bad_length",
        422,
        "统一社会信用代码长度错误",
        "Credit code has the wrong length",
        "A unified social credit code has exactly 18 characters.",
    ),
    ErrorSpec(
        "uscc.bad_character",
        422,
        "统一社会信用代码含非法字符",
        "Credit code has an invalid character",
        "Only digits and the letters of GB 32100 (no I, O, Z, S, V) are allowed.",
    ),
    ErrorSpec(
        "uscc.bad_division",
        422,
        "统一社会信用代码行政区划码无效",
        "Credit code has an invalid division code",
        "Positions 3-8 must be six digits (a GB/T 2260 division code).",
    ),
    ErrorSpec(
        "uscc.bad_check",
        422,
        "统一社会信用代码校验码错误",
        "Credit code check character is wrong",
        "The GB 32100 check character does not match the first 17 characters.",
    ),
    # --- license identifiers (GB/T 36904) ---
    ErrorSpec(
        "license_id.bad_format",
        422,
        "证照标识格式错误",
        "License identifier is malformed",
        "Expected 1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>.",
    ),
    ErrorSpec(
        "license_id.bad_root",
        422,
        "证照标识根 OID 错误",
        "License identifier has the wrong root",
        "A license identifier starts with the root OID 1.2.156.3005.2.",
    ),
    ErrorSpec(
        "license_id.bad_type_code",
        422,
        "证照类型代码无效",
        "License type code is invalid",
        "A type code is an 18-character credit code of the defining authority plus 3 digits.",
    ),
    ErrorSpec(
        "license_id.bad_issuer",
        422,
        "颁证单位代码无效",
        "Issuer credit code is invalid",
        "The issuer part of the identifier is not a valid unified social credit code.",
    ),
    ErrorSpec(
        "license_id.bad_serial",
        422,
        "证照流水号无效",
        "License serial is invalid",
        "The serial is 1 to 64 characters of 0-9 and A-Z.",
    ),
    ErrorSpec(
        "license_id.bad_version",
        422,
        "证照版本号无效",
        "License version is invalid",
        "The version is exactly 3 digits.",
    ),
    ErrorSpec(
        "license_id.bad_check",
        422,
        "证照标识校验位错误",
        "License identifier check character is wrong",
        "The ISO/IEC 7064 MOD 37,36 check character does not match.",
    ),
    ErrorSpec(
        "license_id.nonstandard_check",
        422,
        "证照标识使用非标准校验位",
        "License identifier carries a non-standard check character",
        "The check character matches a known non-standard provincial variant, not GB/T 36904; "
        "re-issue the identifier with the standard character and keep the old one as an alias.",
    ),
    # --- holder codes and detection ---
    ErrorSpec(
        "holder.bad_code_type",
        422,
        "持证主体代码类型无效",
        "Unknown holder code type",
        "The holder code type is not one of the GB/T 36903 / GA/T 517 codes elicense knows.",
    ),
    ErrorSpec(
        "holder.kind_mismatch",
        422,
        "持证主体类型不符",
        "Holder kind does not match",
        "The holder code is of a kind (resident or enterprise) the license type does not accept.",
    ),
    ErrorSpec(
        "id.unrecognised",
        422,
        "无法识别的代码",
        "Unrecognised identifier",
        "The value looks like none of: resident ID, credit code, license identifier.",
    ),
    # --- catalog ---
    ErrorSpec(
        "catalog.invalid",
        422,
        "证照目录无效",
        "License catalog is invalid",
        "One or more catalog entries are broken; details list every problem with the entry, "
        "the field and the reason. Nothing was loaded.",
    ),
    ErrorSpec(
        "catalog.unreadable",
        422,
        "证照目录无法读取",
        "License catalog cannot be read",
        "The file is not valid UTF-8 JSON or YAML, or its top level has the wrong shape.",
    ),
    ErrorSpec(
        "catalog.unknown_type",
        404,
        "证照类型不存在",
        "Unknown license type",
        "No license type with this type code is in the catalog.",
    ),
    ErrorSpec(
        "catalog.duplicate_type",
        422,
        "证照类型重复",
        "Duplicate license type",
        "Two catalog entries share one type code.",
    ),
    # --- face fields ---
    ErrorSpec(
        "field.unknown",
        422,
        "照面项不存在",
        "Unknown face field",
        "The license type has no face field with this key.",
    ),
    ErrorSpec(
        "field.missing",
        422,
        "缺少必填照面项",
        "Required face field missing",
        "A required face field of the license type has no value.",
    ),
    ErrorSpec(
        "field.bad_value",
        422,
        "照面项取值无效",
        "Face field value is invalid",
        "The value does not match the field's value type (date, number, enum, identifier...).",
    ),
    # --- tokens: envelope and parsing (checklist 1-6, 11, 16) ---
    ErrorSpec(
        "token.too_large",
        413,
        "令牌过长",
        "Token too large",
        "The input exceeds the length cap for its kind; nothing was decoded.",
    ),
    ErrorSpec(
        "token.too_many_disclosures",
        422,
        "披露项过多",
        "Too many disclosures",
        "The SD-JWT carries more disclosures than the verifier accepts.",
    ),
    ErrorSpec(
        "token.too_deep",
        422,
        "JSON 嵌套过深",
        "JSON nested too deeply",
        "A JSON value nests deeper than the verifier accepts.",
    ),
    ErrorSpec(
        "token.bad_serialization",
        422,
        "令牌格式错误",
        "Token is not a compact JWS",
        "Only compact serialization with the expected number of segments is accepted.",
    ),
    ErrorSpec(
        "token.bad_base64",
        422,
        "Base64url 编码错误",
        "Bad base64url",
        "A segment is not strict base64url (padding, foreign characters, trailing bits).",
    ),
    ErrorSpec(
        "token.bad_utf8",
        422,
        "UTF-8 编码错误",
        "Bad UTF-8",
        "A segment is not strict UTF-8 (BOM, invalid bytes, lone surrogates).",
    ),
    ErrorSpec(
        "token.bad_json",
        422,
        "JSON 格式错误",
        "Bad JSON",
        "A segment is not strict JSON, its numbers are out of range, or its top level is "
        "not an object.",
    ),
    ErrorSpec(
        "token.duplicate_member",
        422,
        "JSON 成员重复",
        "Duplicate JSON member",
        "A JSON object repeats a member name.",
    ),
    ErrorSpec(
        "token.bad_header",
        422,
        "令牌头部含不允许的参数",
        "Header parameter not allowed",
        "The header carries a parameter outside this token kind's allow-list "
        "(jwk, jku, x5u, x5c, zip, b64, cty, crit, ...).",
    ),
    ErrorSpec(
        "token.bad_typ",
        422,
        "令牌类型错误",
        "Wrong token type",
        "The header typ is not exactly the one this token kind must carry.",
    ),
    ErrorSpec(
        "token.bad_alg",
        422,
        "签名算法不被接受",
        "Algorithm not accepted",
        "alg is unknown, none, HMAC, or differs from the verifying key's pinned algorithm.",
    ),
    ErrorSpec(
        "token.bad_kid",
        422,
        "密钥标识格式错误",
        "Malformed key id",
        "kid is missing or not an RFC 7638 thumbprint.",
    ),
    ErrorSpec(
        "token.bad_signature_encoding",
        422,
        "签名编码错误",
        "Bad signature encoding",
        "The signature is not the raw 64-byte form its algorithm uses in JWS (DER refused).",
    ),
    ErrorSpec(
        "token.bad_signature",
        401,
        "签名无效",
        "Signature invalid",
        "The signature does not verify with the trusted key.",
    ),
    ErrorSpec(
        "token.bad_claim",
        422,
        "声明类型或取值错误",
        "Claim has the wrong type or value",
        "A registered claim is missing, of the wrong JSON type, or out of range.",
    ),
    ErrorSpec(
        "token.issued_in_future",
        422,
        "签发时间在未来",
        "Issued in the future",
        "iat lies after now plus the allowed leeway.",
    ),
    ErrorSpec(
        "token.lifetime_exceeded",
        422,
        "有效期超出上限",
        "Lifetime too long",
        "exp - iat exceeds the maximum lifetime of this token kind.",
    ),
    ErrorSpec(
        "token.bad_audience",
        403,
        "受众不符",
        "Wrong audience",
        "aud is not a single string equal to this verifier.",
    ),
    # --- keys ---
    ErrorSpec(
        "key.bad_jwk",
        422,
        "公钥格式错误",
        "Malformed key",
        "A JWK member is missing, has the wrong length, or the point is not on the curve.",
    ),
    ErrorSpec(
        "key.private_material",
        422,
        "公钥含私钥成分",
        "Key carries private parts",
        "A public key must not carry private members (d, p, q, ...).",
    ),
    ErrorSpec(
        "key.weak",
        422,
        "弱公钥",
        "Weak key",
        "The key is of small order or non-canonically encoded.",
    ),
    ErrorSpec(
        "key.unsupported",
        422,
        "不支持的密钥类型",
        "Unsupported key type",
        "Only P-256 (ES256), Ed25519 (EdDSA) and SM2 (SM2SM3) keys are supported.",
    ),
    ErrorSpec(
        "key.alg_mismatch",
        422,
        "密钥算法不一致",
        "Key and algorithm disagree",
        "The algorithm named for the key differs from the one its type pins.",
    ),
    ErrorSpec(
        "key.kid_mismatch",
        422,
        "密钥标识不一致",
        "Key id does not match",
        "The kid given for a key is not its RFC 7638 thumbprint.",
    ),
    ErrorSpec(
        "key.weak_passphrase",
        422,
        "口令过短",
        "Passphrase too short",
        "Private key files need a passphrase of at least 8 bytes.",
    ),
    ErrorSpec(
        "key.bad_passphrase",
        401,
        "口令错误",
        "Wrong passphrase",
        "The key file cannot be decrypted with this passphrase.",
    ),
    ErrorSpec(
        "key.unencrypted",
        422,
        "私钥未加密",
        "Private key file not encrypted",
        "elicense refuses private key files that are not passphrase-encrypted.",
    ),
    ErrorSpec(
        "key.bad_file",
        422,
        "密钥文件损坏",
        "Key file unreadable",
        "The key file is not a key file elicense can read.",
    ),
    # --- trust lists and the trust store (checklist 8, 9, 25) ---
    ErrorSpec(
        "trust.bad_list",
        422,
        "信任列表内容无效",
        "Trust list content invalid",
        "The trust list is malformed: a member is missing or of the wrong type, or an "
        "issuer lies outside the region.",
    ),
    ErrorSpec(
        "trust.bad_key",
        422,
        "信任列表含无效公钥",
        "Trust list carries a bad key",
        "A key in the trust list is malformed, weak or carries private parts; the whole "
        "list is refused.",
    ),
    ErrorSpec(
        "trust.unknown_region",
        403,
        "未互认的地区",
        "Region not recognised",
        "No anchor key is configured for the region that signed this trust list.",
    ),
    ErrorSpec(
        "trust.bad_signature",
        401,
        "信任列表签名无效",
        "Trust list signature invalid",
        "The trust list does not verify with the region's anchor key.",
    ),
    ErrorSpec(
        "trust.rollback",
        409,
        "信任列表版本回退",
        "Trust list rollback",
        "The trust list's version is older than (or conflicts with) the one installed.",
    ),
    ErrorSpec(
        "trust.stale",
        503,
        "信任列表已过期",
        "Trust list stale",
        "The trust list is past its next update plus the grace period (freeze attack "
        "or an outage): verification fails closed.",
    ),
    ErrorSpec(
        "trust.conflict",
        409,
        "发证机构在多个地区列表中",
        "Issuer listed by two regions",
        "The same issuer appears in the trust lists of two regions.",
    ),
    ErrorSpec(
        "trust.unknown_issuer",
        403,
        "发证机构不受信任",
        "Issuer not trusted",
        "The issuer is in no trust list this verifier recognises.",
    ),
    ErrorSpec(
        "trust.unknown_key",
        403,
        "密钥不受信任",
        "Key not trusted",
        "The issuer has no key with this kid in its trust list.",
    ),
    ErrorSpec(
        "trust.wrong_issuer",
        403,
        "密钥属于其他机构",
        "Key belongs to another issuer",
        "The kid belongs to a different issuer than the one the token names.",
    ),
    ErrorSpec(
        "trust.type_not_allowed",
        403,
        "机构无权签发此类证照",
        "Issuer may not issue this type",
        "The trust list does not allow this issuer to issue this license type.",
    ),
    ErrorSpec(
        "trust.key_not_valid",
        403,
        "密钥不在有效期内",
        "Key outside its validity window",
        "The token's iat lies outside the key's validity window.",
    ),
    ErrorSpec(
        "trust.key_retired",
        403,
        "密钥已停用",
        "Key retired",
        "The key was retired before the token was signed.",
    ),
    ErrorSpec(
        "trust.key_compromised",
        403,
        "密钥已泄露",
        "Key compromised",
        "The key is marked compromised: nothing it signed verifies.",
    ),
    # --- SD-JWT (checklist 17-20) ---
    ErrorSpec(
        "sd.bad_alg",
        422,
        "摘要算法不被接受",
        "Digest algorithm not accepted",
        "_sd_alg must be sha-256 and appear only at the top level.",
    ),
    ErrorSpec(
        "sd.bad_disclosure",
        422,
        "披露项格式错误",
        "Malformed disclosure",
        "A disclosure is not a JSON array of the exact shape (3 for members, 2 for array "
        "elements) with string salt and name.",
    ),
    ErrorSpec(
        "sd.reserved_name",
        422,
        "披露项使用保留名称",
        "Disclosure uses a reserved name",
        "A disclosed claim is named _sd or ....",
    ),
    ErrorSpec(
        "sd.claim_override",
        422,
        "披露项覆盖已有声明",
        "Disclosure overrides a claim",
        "A disclosure names a claim already present in its object.",
    ),
    ErrorSpec(
        "sd.duplicate_digest",
        422,
        "摘要重复",
        "Digest appears twice",
        "A digest appears more than once in the token, or two disclosures are identical.",
    ),
    ErrorSpec(
        "sd.unreferenced_disclosure",
        422,
        "披露项未被引用",
        "Unreferenced disclosure",
        "A disclosure is not referenced by any digest in the signed payload.",
    ),
    ErrorSpec(
        "sd.protected_claim",
        422,
        "受保护声明不得选择性披露",
        "Validity-controlling claim hidden in a disclosure",
        "iss, iat, nbf, exp, vct, status, cnf and the license identifier must be in the "
        "signed payload, never in disclosures.",
    ),
    ErrorSpec(
        "sd.bad_structure",
        422,
        "SD-JWT 结构错误",
        "Malformed SD-JWT",
        "_sd is not a list of digest strings, or an array element placeholder is malformed.",
    ),
    ErrorSpec(
        "kb.required",
        401,
        "缺少持证人绑定证明",
        "Key binding required",
        "The verifier's policy requires a key-binding JWT and none was presented.",
    ),
    ErrorSpec(
        "kb.no_holder_key",
        422,
        "证照未绑定持证人密钥",
        "No holder key in license",
        "Key binding is required but the license carries no cnf key.",
    ),
    ErrorSpec(
        "kb.bad_signature",
        401,
        "持证人绑定签名无效",
        "Key binding signature invalid",
        "The key-binding JWT does not verify with the license's cnf key.",
    ),
    ErrorSpec(
        "kb.bad_nonce",
        401,
        "随机数不符",
        "Wrong nonce",
        "The key-binding JWT's nonce is not the one this verifier issued.",
    ),
    ErrorSpec(
        "kb.bad_sd_hash",
        401,
        "sd_hash 不符",
        "sd_hash mismatch",
        "The key-binding JWT's sd_hash is not the hash of the presented SD-JWT.",
    ),
    ErrorSpec(
        "kb.stale",
        401,
        "绑定证明过期",
        "Key binding too old or in the future",
        "The key-binding JWT's iat lies outside the accepted window.",
    ),
    ErrorSpec(
        "kb.replayed",
        409,
        "绑定证明重复使用",
        "Key binding replayed",
        "This nonce has already been used with this verifier.",
    ),
    ErrorSpec(
        "replay.unavailable",
        503,
        "防重放存储不可用",
        "Replay store unavailable",
        "The replay store cannot be reached; verification fails closed.",
    ),
    # --- licenses ---
    ErrorSpec(
        "license.expired",
        403,
        "证照已过期",
        "License expired",
        "The license's validity (exp) has ended.",
    ),
    ErrorSpec(
        "license.not_yet_valid",
        403,
        "证照尚未生效",
        "License not yet valid",
        "The license's validity (nbf) has not started.",
    ),
    ErrorSpec(
        "license.bad_validity",
        422,
        "证照有效期无效",
        "License validity invalid",
        "valid_until lies before valid_from.",
    ),
    # --- scenarios ---
    ErrorSpec(
        "scenario.invalid",
        422,
        "场景配置无效",
        "Scenario definitions invalid",
        "One or more scenarios are broken; details list every problem. Nothing was loaded.",
    ),
    ErrorSpec(
        "scenario.unreadable",
        422,
        "场景配置无法读取",
        "Scenario file unreadable",
        "The file is not UTF-8 JSON or YAML with a 'scenarios' list.",
    ),
    ErrorSpec(
        "scenario.unknown",
        404,
        "场景不存在",
        "Unknown scenario",
        "No scenario with this id or number is configured.",
    ),
    ErrorSpec(
        "scenario.not_allowed",
        403,
        "无权使用该场景",
        "Scenario not allowed",
        "The relying party may not use this scenario, or the code does not allow it.",
    ),
    # --- codes and presentations (QR) ---
    ErrorSpec(
        "code.malformed",
        422,
        "码格式错误",
        "Malformed code",
        "The scanned text is not a well-formed code or presentation (prefix, digits, "
        "framing); nothing was verified.",
    ),
    ErrorSpec(
        "code.too_large",
        413,
        "码过长",
        "Code too long",
        "The scanned text exceeds the length cap; nothing was decoded.",
    ),
    ErrorSpec(
        "code.wrong_kind",
        422,
        "码类型不符",
        "Wrong kind of code",
        "A resident code where an enterprise code is expected, a code where a "
        "presentation is expected, or a prefix that disagrees with the signed kind.",
    ),
    ErrorSpec(
        "code.unknown_key",
        403,
        "签发密钥不受信任",
        "Code signed by an unknown key",
        "No platform key of the code's region matches its key reference.",
    ),
    ErrorSpec(
        "code.ambiguous_key",
        403,
        "密钥引用不唯一",
        "Ambiguous key reference",
        "Several platform keys match the short key reference; the trust list must make it unique.",
    ),
    ErrorSpec(
        "code.bad_signature",
        401,
        "码签名无效",
        "Code signature invalid",
        "The code's signature does not verify with the platform key.",
    ),
    ErrorSpec(
        "code.expired",
        401,
        "码已过期",
        "Code expired",
        "The code's lifetime has ended; ask the holder to refresh it.",
    ),
    ErrorSpec(
        "code.not_yet_valid",
        401,
        "码尚未生效",
        "Code not yet valid",
        "The code was issued in the future (clock skew beyond the allowed leeway).",
    ),
    ErrorSpec(
        "code.bad_lifetime",
        422,
        "码有效期超出上限",
        "Code lifetime too long",
        "Codes live at most 300 seconds, presentations at most 600.",
    ),
    ErrorSpec(
        "code.wrong_audience",
        403,
        "码不是出示给本单位的",
        "Code meant for another party",
        "The code names a different relying party.",
    ),
    ErrorSpec(
        "code.replayed",
        409,
        "码已使用",
        "Code already used",
        "This code was already used once; ask the holder to show a fresh one.",
    ),
    # --- status lists (checklist 22-24) ---
    ErrorSpec(
        "status.bad_bits", 422, "状态位数无效", "Bad status list bits", "bits must be 1, 2, 4 or 8."
    ),
    ErrorSpec(
        "status.bad_list",
        422,
        "状态列表格式错误",
        "Malformed status list",
        "lst is not base64url zlib data of the right length.",
    ),
    ErrorSpec(
        "status.too_large",
        413,
        "状态列表过大",
        "Status list too large",
        "The list decompresses beyond the cap (a decompression bomb is refused fast).",
    ),
    ErrorSpec(
        "status.index_out_of_range",
        422,
        "状态索引越界",
        "Status index out of range",
        "The license's index lies past the end of its status list.",
    ),
    ErrorSpec(
        "status.wrong_issuer",
        403,
        "状态列表签发者不符",
        "Status list from another issuer",
        "The list is signed neither by the license's issuer nor by its region's platform.",
    ),
    ErrorSpec(
        "status.bad_signature",
        401,
        "状态列表签名无效",
        "Status list signature invalid",
        "The status list token does not verify with the trusted key.",
    ),
    ErrorSpec(
        "status.wrong_sub",
        403,
        "状态列表地址不符",
        "Status list for another URI",
        "The token's sub differs from the URI the license refers to.",
    ),
    ErrorSpec(
        "status.expired",
        503,
        "状态列表已过期",
        "Status list expired",
        "The (cached) status list is past its exp and no fresh one could be had: "
        "verification fails closed.",
    ),
    ErrorSpec(
        "status.fetch_failed",
        503,
        "状态列表获取失败",
        "Status list fetch failed",
        "The status list could not be fetched (time-out, size cap, status code).",
    ),
    ErrorSpec(
        "status.location_not_allowed",
        403,
        "状态列表地址不在允许范围",
        "Location not allowed",
        "The status list URI (or a redirect) is outside the allow-listed locations.",
    ),
    ErrorSpec(
        "status.bad_transition",
        409,
        "状态变更不允许",
        "Status change not allowed",
        "Revocation is final; suspension only from valid; reinstatement only from suspended.",
    ),
    ErrorSpec(
        "status.not_owner",
        403,
        "无权变更该证照状态",
        "Not the license's issuer",
        "Only the license's own issuer (or the platform) may change its status.",
    ),
    ErrorSpec(
        "license.revoked",
        403,
        "证照已注销或吊销",
        "License revoked",
        "The license's status list entry says revoked (注销/吊销).",
    ),
    ErrorSpec(
        "license.suspended",
        403,
        "证照已暂停使用",
        "License suspended",
        "The license's status list entry says suspended.",
    ),
    ErrorSpec(
        "license.invalid_status",
        403,
        "证照状态无效",
        "License status not valid",
        "The status list entry holds a value other than valid (0).",
    ),
    # --- storage ---
    ErrorSpec(
        "storage.unavailable",
        503,
        "数据库不可用",
        "Database unavailable",
        "The database cannot be reached; the request fails closed.",
    ),
    ErrorSpec(
        "storage.schema_outdated",
        503,
        "数据库结构版本过旧",
        "Database schema out of date",
        "The database schema is older than this version expects: run `elicense db upgrade`.",
    ),
    ErrorSpec(
        "storage.bad_url",
        422,
        "数据库地址无效",
        "Bad database URL",
        "Only sqlite:///PATH, sqlite:///:memory: and postgresql://… URLs are supported.",
    ),
    ErrorSpec(
        "storage.conflict",
        409,
        "记录已存在",
        "Record exists",
        "A record with this key already exists (e.g. the same license number).",
    ),
    ErrorSpec(
        "storage.not_found", 404, "记录不存在", "Record not found", "No record with this key."
    ),
    # --- authentication, consent ---
    ErrorSpec(
        "auth.invalid",
        401,
        "认证失败",
        "Authentication failed",
        "The API key or session is missing, malformed, unknown, revoked or of the wrong "
        "kind. One code for all of these, so responses reveal nothing about keys.",
    ),
    ErrorSpec(
        "auth.forbidden",
        403,
        "无权访问",
        "Forbidden",
        "The authenticated party may not act on this object (another party's record).",
    ),
    ErrorSpec(
        "consent.missing",
        403,
        "缺少持证人授权",
        "No consent",
        "Neither the code nor a standing grant covers this scenario for this relying "
        "party. The response is the same whether or not the holder has the license.",
    ),
    ErrorSpec(
        "consent.expired",
        403,
        "授权已过期",
        "Consent expired",
        "The standing grant's validity has ended.",
    ),
    ErrorSpec(
        "consent.exhausted",
        403,
        "授权次数已用完",
        "Consent used up",
        "The standing grant's maximum number of uses is reached.",
    ),
    ErrorSpec(
        "consent.revoked",
        403,
        "授权已撤回",
        "Consent revoked",
        "The holder revoked the standing grant.",
    ),
    ErrorSpec(
        "consent.bad_fields",
        422,
        "授权字段超出场景范围",
        "Fields outside the scenario",
        "A grant may only cover fields the scenario can show.",
    ),
    ErrorSpec(
        "consent.bad_purpose",
        422,
        "用途说明无效",
        "Bad purpose",
        "The purpose must be 1-200 characters.",
    ),
    ErrorSpec(
        "consent.bad_validity",
        422,
        "授权期限无效",
        "Bad validity",
        "A grant is valid for at most 90 days, and allows at least one use.",
    ),
    ErrorSpec(
        "consent.not_needed",
        422,
        "该场景依法无需授权",
        "Scenario has a statutory basis",
        "The scenario's legal basis is a statute; no consent is granted for it.",
    ),
    ErrorSpec(
        "audit.unavailable",
        503,
        "用证记录写入失败",
        "Access record not written",
        "The access record could not be committed, so no data is returned (fail closed).",
    ),
    # --- platform home ---
    ErrorSpec(
        "home.exists",
        409,
        "平台目录已存在",
        "Platform home exists",
        "The directory already holds a platform.yaml; refusing to overwrite keys.",
    ),
    ErrorSpec(
        "home.unreadable",
        422,
        "平台目录无法读取",
        "Platform home unreadable",
        "platform.yaml or a key file is missing or malformed; run `elicense init`.",
    ),
    ErrorSpec(
        "license.missing",
        403,
        "缺少所需证照",
        "Required license missing",
        "The holder has no valid license of a type the scenario requires.",
    ),
    # --- the HTTP service ---
    ErrorSpec(
        "request.invalid",
        422,
        "请求格式错误",
        "Invalid request",
        "The request body or parameters do not match the API; details name the fields.",
    ),
    ErrorSpec(
        "request.too_large",
        413,
        "请求过大",
        "Request too large",
        "The request body exceeds the service's limit.",
    ),
    ErrorSpec(
        "request.rate_limited",
        429,
        "请求过于频繁",
        "Too many requests",
        "This relying party exceeded its request rate; retry after a moment.",
    ),
    ErrorSpec(
        "request.not_found",
        404,
        "资源不存在",
        "Not found",
        "No such endpoint or object (or it belongs to another party).",
    ),
    ErrorSpec(
        "request.method_not_allowed",
        405,
        "方法不允许",
        "Method not allowed",
        "The endpoint does not accept this HTTP method.",
    ),
    ErrorSpec(
        "service.unavailable",
        503,
        "服务暂不可用",
        "Service unavailable",
        "The request could not be completed; nothing was disclosed.",
    ),
    # --- masking ---
    ErrorSpec(
        "mask.unknown_rule",
        422,
        "未知的脱敏规则",
        "Unknown masking rule",
        "The masking rule is not one elicense defines.",
    ),
)


def _build_registry(specs: tuple[ErrorSpec, ...]) -> Mapping[str, ErrorSpec]:
    registry: dict[str, ErrorSpec] = {}
    for spec in specs:
        if spec.code in registry:
            raise RuntimeError(f"error code registered twice: {spec.code}")
        registry[spec.code] = spec
    return MappingProxyType(registry)


ERROR_CODES: Mapping[str, ErrorSpec] = _build_registry(_SPECS)


#: Warnings are reported next to a valid result (never raised): documented like errors.
WARNING_CODES: Mapping[str, str] = MappingProxyType(
    {
        "uscc.organisation_code_check": "The GB 11714 check of positions 9-17 fails (common in "
        "codes issued before the standard settled; the code stays valid).",
        "uscc.unknown_authority": "Position 1 is not a registration authority GB 32100 lists.",
        "uscc.unknown_kind": "Position 2 is not an organisation kind of that authority.",
    }
)


class ElicenseError(Exception):
    """The only exception elicense lets out of its public API.

    Unregistered codes are refused at construction so that a typo in a code can never
    reach a client as an undocumented contract.
    """

    __slots__ = ("code", "details", "message")

    def __init__(
        self, code: str, message: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        spec = ERROR_CODES.get(code)
        if spec is None:
            raise ValueError(f"unregistered error code: {code!r}")
        self.code = code
        self.message = message if message is not None else spec.title_en
        self.details: dict[str, Any] = dict(details) if details else {}
        super().__init__(f"{code}: {self.message}")

    @property
    def spec(self) -> ErrorSpec:
        return ERROR_CODES[self.code]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for CLIs and HTTP problem bodies."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


def render_errors_markdown() -> str:
    """The text of docs/errors.md; a test keeps the committed file equal to it."""
    lines = [
        "# Error codes",
        "",
        "Generated from `elicense.errors` by `python -m elicense.docs`; do not edit by hand.",
        "Codes are stable: they are added, never renamed or reused. The HTTP status is what",
        "the service answers with (RFC 9457 problem+json, `code` member).",
        "",
        "| code | HTTP | 中文 | English | when |",
        "|---|---|---|---|---|",
    ]
    for spec in sorted(ERROR_CODES.values(), key=lambda s: s.code):
        lines.append(
            f"| `{spec.code}` | {spec.http_status} | {spec.title_zh} | {spec.title_en} "
            f"| {spec.description} |"
        )
    lines += [
        "",
        "## Warnings",
        "",
        "Reported beside a valid result, never raised.",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{code}` | {text} |" for code, text in sorted(WARNING_CODES.items())]
    return "\n".join(lines) + "\n"
