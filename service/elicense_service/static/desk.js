// 前台核验页：扫码枪输入（回车提交）或摄像头扫码，调用 POST /v1/verify。
// 不在浏览器中保存任何个人信息：结果只显示在页面上，下一次扫码前清除。
"use strict";

const LABELS = {
  name: "姓名", id_number: "公民身份号码", sex: "性别", ethnicity: "民族", birth_date: "出生日期",
  address: "住址", credit_code: "统一社会信用代码", legal_representative: "法定代表人",
  business_scope: "经营范围", location: "坐落", certificate_number: "证书编号",
  valid_until: "有效期至", valid_from: "有效期起",
};
const REASONS = {
  "code.replayed": "该码已使用过，请持证人刷新后重新出示。",
  "code.expired": "该码已过期，请持证人刷新后重新出示。",
  "code.not_yet_valid": "该码时间异常，请检查持证人手机时间。",
  "code.malformed": "未能识别该码，请重新扫描。",
  "code.too_large": "扫描内容过长，不是有效的居民码/企业码。",
  "code.bad_signature": "该码签名无效，可能被伪造。",
  "code.unknown_key": "该码不是由受信任的平台签发的。",
  "code.wrong_kind": "码的类型不符（例如把企业码用于个人事项）。",
  "code.wrong_audience": "该码是出示给其他单位的，本单位不能使用。",
  "consent.missing": "持证人未授权本单位办理该事项。",
  "consent.expired": "持证人的授权已过期。",
  "consent.exhausted": "持证人的授权次数已用完。",
  "consent.revoked": "持证人已撤回授权。",
  "scenario.not_allowed": "本单位无权办理该事项。",
  "scenario.unknown": "请选择办理事项。",
  "license.missing": "持证人没有办理该事项所需的有效证照。",
  "license.revoked": "证照已注销或吊销。",
  "license.suspended": "证照已暂停使用。",
  "auth.invalid": "单位密钥无效，请检查后重试。",
  "request.rate_limited": "请求过于频繁，请稍后再试。",
  "audit.unavailable": "用证记录无法写入，为保护持证人信息，本次不显示结果。",
  "trust.unknown_region": "签发地区未与本市互认。",
  "trust.stale": "信任列表已过期，暂时无法核验。",
};

const $ = (id) => document.getElementById(id);
const result = $("result");
const input = $("code");
let busy = false;

function clearResult(text) {
  result.className = "result idle";
  result.replaceChildren();
  const p = document.createElement("p");
  p.className = "hint";
  p.textContent = text;
  result.append(p);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function showOk(data) {
  result.className = "result ok";
  result.replaceChildren(el("h2", "✓ 核验通过"));
  for (const lic of data.licenses) {
    const box = el("div", undefined, "license");
    box.append(el("div", lic.type_name + (lic.valid ? "（有效）" : ""), "meta"));
    const dl = document.createElement("dl");
    for (const [key, value] of Object.entries(lic.fields)) {
      dl.append(el("dt", LABELS[key] || key), el("dd", value));
    }
    if (lic.valid !== null) dl.append(el("dt", "证照状态"), el("dd", lic.valid ? "有效" : "无效"));
    box.append(dl);
    result.append(box);
  }
  result.append(el("p", "记录编号 " + data.record_id, "meta"));
}

function showRefusal(problem) {
  result.className = "result bad";
  const reason = REASONS[problem.code] || problem.title || "核验未通过。";
  result.replaceChildren(el("h2", "✗ 核验未通过"), el("p", reason), el("p", "原因代码 " + problem.code, "meta"));
  if (problem.record_id) result.append(el("p", "记录编号 " + problem.record_id, "meta"));
}

async function verify(text) {
  const scenario = $("scenario").value;
  const key = $("apikey").value.trim();
  clearResult("正在核验…");
  busy = true;
  try {
    const resp = await fetch("/v1/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
      body: JSON.stringify({ text, scenario }),
    });
    const data = await resp.json();
    if (resp.ok) showOk(data); else showRefusal(data);
  } catch (e) {
    showRefusal({ code: "network", title: "网络错误，请重试。" });
  } finally {
    busy = false;
    input.value = "";
    input.focus();
  }
}

$("scanform").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (text && !busy) verify(text);
});

// Keep the scanner's target focused: a wedge scanner types into whatever has focus.
document.addEventListener("click", (ev) => {
  if (!["INPUT", "SELECT", "BUTTON"].includes(ev.target.tagName)) input.focus();
});

async function loadScenarios() {
  const resp = await fetch("/v1/scenarios");
  const list = await resp.json();
  const sel = $("scenario");
  sel.replaceChildren();
  for (const s of list) {
    const o = document.createElement("option");
    o.value = s.id;
    o.textContent = s.name_zh;
    sel.append(o);
  }
  const saved = sessionStorage.getItem("elicense.scenario");
  if (saved) sel.value = saved;
  sel.addEventListener("change", () => sessionStorage.setItem("elicense.scenario", sel.value));
}

// The unit's key (not personal data) is kept for this browser tab only.
$("apikey").value = sessionStorage.getItem("elicense.apikey") || "";
$("apikey").addEventListener("change", () => sessionStorage.setItem("elicense.apikey", $("apikey").value.trim()));

if ("BarcodeDetector" in window) {
  const cam = $("camera");
  cam.hidden = false;
  cam.addEventListener("click", async () => {
    const video = $("video");
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const tick = async () => {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) {
        stream.getTracks().forEach((t) => t.stop());
        video.hidden = true;
        verify(codes[0].rawValue.trim());
      } else {
        requestAnimationFrame(tick);
      }
    };
    tick();
  });
}

loadScenarios();
clearResult("等待扫码…");
