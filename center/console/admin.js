// Administration (admins only; the server refuses everyone else, 403): the users, and an
// action plan per alert type edited over the config's. Names and the plans' own text are
// data: shown as text, never translated (translate="no").
"use strict";

i18nAdd({
  "Administration": "系统管理", "Users": "用户", "Role": "角色",
  "Created": "创建时间", "Last login": "最近登录", "Status": "状态", "Change": "修改",
  "Add a user": "添加用户", "name": "用户名", "role": "角色",
  "initial password": "初始密码", "Add": "添加", "Action plans": "处置预案",
  "Alert type": "告警类型", "Add a step": "添加步骤", "Save the plan": "保存预案",
  "Reset to default": "恢复默认", "never": "从未登录", "enabled": "启用", "disabled": "已停用",
  "Set role": "设置角色", "new password": "新密码", "Reset password": "重置密码",
  "Disable": "停用", "Enable": "启用",
  "User added": "用户已添加", "Role changed": "角色已修改", "Password reset": "密码已重置",
  "User disabled": "用户已停用", "User enabled": "用户已启用", "Plan saved": "预案已保存",
  "Plan reset to default": "预案已恢复默认",
  "From the config (the default)": "来自配置（默认预案）",
  "Edited in the console": "在控制台修改",
  "No plan: alerts of this type have no checklist": "无预案：此类告警没有处置清单",
  "step id": "步骤编号",
  "what the operator does": "值班员要做的事", "required": "必做", "Remove": "删除",
  "Check the name": "请检查用户名", "Check the role": "请检查角色",
  "Check the password: 8 to 1024 characters": "请检查密码：8 至 1024 个字符",
  "Check the plan's steps: ids of a-z 0-9 _, unique; 1 to 20 steps; text up to 200 characters":
    "请检查预案步骤：编号只用小写字母、数字和下划线且不重复；1 至 20 步；内容不超过 200 字",
  "Check the request": "请检查请求内容",
  "Not allowed: this needs the admin role": "无权操作：需要管理员角色",
  "Refused: the last enabled admin cannot be demoted or disabled":
    "已拒绝：不能降级或停用最后一个启用的管理员",
  "A user of that name exists already": "该用户名已存在", "Refused": "已拒绝",
});

const ADMIN_MAX_STEPS = 20;
let adminRoles = ["operator", "supervisor", "admin"];
let adminUsers = null;  // GET /api/admin/users, once the tab was opened
let adminPlanList = []; // GET /api/plans
let adminDone = "";     // the last change's message (its English), redrawn on a switch
let adminError = null;  // the last refusal, likewise

function adminShow() {
  const admin = me.role === "admin";
  $("#admin-tab").hidden = !admin;
  if (!admin) {
    // another user logged in here: nothing of the last admin's page stays
    if (!$("#tab-admin").hidden) $('nav button[data-tab="queue"]').click();
    $("#tab-admin").hidden = true;
    $("#users tbody").replaceChildren();
    adminUsers = null;
  }
}

$("#admin-tab").addEventListener("click", () => adminLoad());

// keepDraft: the plan being edited stays as it is (a user was changed meanwhile)
async function adminLoad(keepDraft = false) {
  const newest = ask("admin");
  try {
    const [users, plans] = await Promise.all([api("/api/admin/users"), api("/api/plans")]);
    if (!newest()) return; // a change's reload was asked meanwhile
    const draft = keepDraft && adminUsers ? draftSteps() : null;
    adminRoles = users.roles;
    adminUsers = users.users;
    adminPlanList = plans.plans;
    adminDraw();
    if (draft) drawPlan(draft);
  } catch (err) {
    adminFailed(err);
  }
}

function adminDraw() {
  const roleSelect = $("#user-add select[name=role]");
  const chosen = roleSelect.value || "operator";
  roleSelect.replaceChildren(...adminRoles.map((r) => el("option", {value: r, text: trWord("role", r)})));
  roleSelect.value = chosen;
  if (adminUsers) $("#users tbody").replaceChildren(...adminUsers.map(userRow));
  drawPlanTypes();
}

function userRow(u) {
  const role = el("select", {"aria-label": tr("Role"), "data-role-of": u.name});
  for (const r of adminRoles) role.append(el("option", {value: r, text: trWord("role", r)}));
  role.value = u.role;
  const setRole = el("button", {type: "button", class: "set-role", text: tr("Set role")});
  setRole.addEventListener("click", () => adminPost("/api/admin/users/role",
    {name: u.name, role: role.value}, "Role changed"));
  const password = el("input", {type: "password", class: "new-password", maxlength: "1024",
    autocomplete: "new-password", placeholder: tr("new password")});
  const reset = el("button", {type: "button", class: "reset-password", text: tr("Reset password")});
  reset.addEventListener("click", async () => {
    const value = password.value;
    password.value = ""; // the password is not kept in the page
    await adminPost("/api/admin/users/password", {name: u.name, password: value}, "Password reset");
  });
  const toggle = el("button", {type: "button", class: "toggle-user",
    text: u.disabled ? tr("Enable") : tr("Disable")});
  toggle.addEventListener("click", () => adminPost("/api/admin/users/disabled",
    {name: u.name, disabled: !u.disabled}, u.disabled ? "User enabled" : "User disabled"));
  return el("tr", {"data-user": u.name, class: u.disabled ? "user-disabled" : ""},
    el("td", {translate: "no", text: u.name}),
    el("td", {class: "user-role", text: trWord("role", u.role)}),
    el("td", {text: trTime(u.created_at)}),
    el("td", {class: "user-login", text: u.last_login ? trTime(u.last_login) : tr("never")}),
    el("td", {class: "user-status", text: u.disabled ? tr("disabled") : tr("enabled")}),
    el("td", {class: "user-change"}, role, setRole, password, reset, toggle));
}

$("#user-add").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const body = {name: form.elements.name.value, role: form.elements.role.value,
    password: form.elements.password.value};
  form.elements.password.value = "";
  if (await adminPost("/api/admin/users", body, "User added")) form.elements.name.value = "";
});

// One change; its outcome said in the page, then the page reloaded from the server.
async function adminPost(path, body, done, keepDraft = true) {
  adminDone = "";
  adminError = null;
  $("#admin-message").textContent = "";
  $("#admin-error").replaceChildren();
  try {
    await api(path, {method: "POST", body: JSON.stringify(body)});
  } catch (err) {
    adminFailed(err);
    return false;
  }
  adminDone = done;
  $("#admin-message").textContent = tr(done);
  await adminLoad(keepDraft);
  return true;
}

// What went wrong, in the console's language; the server's own words beside it (English,
// data like a note: not translated).
function adminFailed(err) {
  adminError = err;
  let what = tr("Failed");
  const text = err.message || "";
  if (err.status === 400) {
    const field = text.split(":")[0];
    what = field === "name" ? tr("Check the name") : field === "role" ? tr("Check the role")
      : field === "password" ? tr("Check the password: 8 to 1024 characters")
      : field.startsWith("steps") ? tr("Check the plan's steps: ids of a-z 0-9 _, unique; 1 to 20 steps; text up to 200 characters")
      : tr("Check the request");
  } else if (err.status === 403) what = tr("Not allowed: this needs the admin role");
  else if (err.status === 404) what = tr("Not found");
  else if (err.status === 409) {
    what = text.includes("last enabled admin") ? tr("Refused: the last enabled admin cannot be demoted or disabled")
      : text.includes("exists already") ? tr("A user of that name exists already") : tr("Refused");
  }
  $("#admin-message").textContent = "";
  $("#admin-error").replaceChildren(el("span", {text: what}), " ",
    el("span", {class: "muted", translate: "no", text: text}));
}

// -- action plans ---------------------------------------------------------------------------
function drawPlanTypes() {
  const select = $("#plan-type");
  const chosen = select.value || "intrusion";
  const types = [...new Set([...TYPES, ...adminPlanList.map((p) => p.type)])];
  select.replaceChildren(...types.map((t) => el("option", {value: t, text: trWord("type", t)})));
  select.value = types.includes(chosen) ? chosen : types[0];
  drawPlan();
}

$("#plan-type").addEventListener("change", () => drawPlan());

function drawPlan(steps = null) {
  const plan = adminPlanList.find((p) => p.type === $("#plan-type").value);
  const source = $("#plan-source");
  if (!plan) source.replaceChildren(tr("No plan: alerts of this type have no checklist"));
  else if (plan.source === "console") {
    source.replaceChildren(el("span", {text: tr("Edited in the console")}), " · ",
      el("span", {translate: "no", text: plan.by}), " · ", el("span", {text: trTime(plan.at)}));
  } else source.replaceChildren(tr("From the config (the default)"));
  $("#plan-reset").disabled = plan?.source !== "console";
  $("#plan-edit").replaceChildren(...(steps ?? plan?.steps ?? []).map(stepRow));
  $("#plan-add-step").disabled = $("#plan-edit").children.length >= ADMIN_MAX_STEPS;
}

function stepRow(step) {
  const remove = el("button", {type: "button", class: "remove-step", text: tr("Remove")});
  const li = el("li", {class: "plan-step"},
    el("input", {class: "step-id", maxlength: "32", translate: "no",
      placeholder: tr("step id")}),
    el("input", {class: "step-text", maxlength: "200", translate: "no",
      placeholder: tr("what the operator does")}),
    el("label", {}, el("input", {type: "checkbox", class: "step-required"}), " ",
      el("span", {text: tr("required")})),
    remove);
  li.querySelector(".step-id").value = step.id;
  li.querySelector(".step-text").value = step.text;
  li.querySelector(".step-required").checked = step.required;
  remove.addEventListener("click", () => {
    li.remove();
    $("#plan-add-step").disabled = $("#plan-edit").children.length >= ADMIN_MAX_STEPS;
  });
  return li;
}

function draftSteps() {
  return [...document.querySelectorAll("#plan-edit .plan-step")].map((li) => ({
    id: li.querySelector(".step-id").value.trim(),
    text: li.querySelector(".step-text").value.trim(),
    required: li.querySelector(".step-required").checked}));
}

$("#plan-add-step").addEventListener("click", () => {
  $("#plan-edit").append(stepRow({id: "", text: "", required: true}));
  $("#plan-add-step").disabled = $("#plan-edit").children.length >= ADMIN_MAX_STEPS;
  $("#plan-edit li:last-child .step-id").focus();
});

$("#plan-save").addEventListener("click", () => adminPost(
  `/api/admin/plans/${encodeURIComponent($("#plan-type").value)}`, {steps: draftSteps()},
  "Plan saved", false));

$("#plan-reset").addEventListener("click", () => adminPost(
  `/api/admin/plans/${encodeURIComponent($("#plan-type").value)}/reset`, {},
  "Plan reset to default", false));

// a language switch redraws the page, keeping the steps being edited
i18nRedraws.push(() => {
  if ($("#tab-admin").hidden || !adminUsers) return;
  const steps = draftSteps();
  adminDraw();
  drawPlan(steps);
  $("#admin-message").textContent = adminDone ? tr(adminDone) : "";
  if (adminError) adminFailed(adminError);
});
