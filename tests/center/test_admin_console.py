"""The console's administration page in Debian's chromium, on a real center: an admin adds
a user who then logs in, changes a role (the user's session ends), disables a user (who
can no longer log in), and cannot disable or demote the last admin; edits an alert type's
plan, which becomes a new alert's checklist and blocks its close until ticked, then resets
it to the config's; operators see no admin controls; and in zh-CN nothing is left in
English."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.center.conftest import PASSWORDS, alert_messages, center_running, write_alerts
from tests.center.i18n_check import assert_translated

pytestmark = pytest.mark.mqtt
ADMIN_PASSWORD = "admin-pass-123"
PLANS = {"intrusion": {"steps": [{"id": "check_video", "text": "Check the clip"},
                                 {"id": "call_site", "text": "Call the site guard"}]}}


async def open_console(browser, base: str, name: str, password: str, locale: str = "en-GB"):
    context = await browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    await page.goto(base + "/")
    await log_in(page, name, password)
    return page


async def log_in(page, name: str, password: str) -> None:
    await page.fill("#login-name", name)
    await page.fill("#login-password", password)
    await page.click("#login-form button")


async def test_an_admin_manages_users_in_the_console(tmp_path, browser):
    async with center_running(tmp_path) as (run, _):
        run.center.store.add_user("ada", "admin", ADMIN_PASSWORD)
        admin = await open_console(browser, run.base, "ada", ADMIN_PASSWORD)
        await admin.click("#admin-tab")
        rows = admin.locator("#users tbody tr")
        await expect(rows).to_have_count(3)
        await admin.fill("#user-add input[name=name]", "nina")
        await admin.select_option("#user-add select[name=role]", "supervisor")
        await admin.fill("#user-add input[name=password]", "nina-pass-1")
        await admin.click("#user-add button[type=submit]")
        await expect(admin.locator("#admin-message")).to_have_text("User added")
        nina_row = admin.locator('#users tr[data-user="nina"]')
        await expect(nina_row.locator(".user-role")).to_have_text("supervisor")
        await expect(nina_row.locator(".user-login")).to_have_text("never")
        assert await admin.input_value("#user-add input[name=password]") == ""

        nina = await open_console(browser, run.base, "nina", "nina-pass-1")
        await expect(nina.locator("#who")).to_have_text("nina (supervisor)")
        await expect(nina.locator("#admin-tab")).to_be_hidden()
        await admin.click("#admin-tab")  # reloads: her last login shows
        await expect(nina_row.locator(".user-login")).not_to_have_text("never")

        # a role change takes effect: her session ends, she logs in as an operator
        await nina_row.locator("select").select_option("operator")
        await nina_row.locator(".set-role").click()
        await expect(admin.locator("#admin-message")).to_have_text("Role changed")
        await expect(nina_row.locator(".user-role")).to_have_text("operator")
        await nina.reload()
        await expect(nina.locator("#login")).to_be_visible()
        await log_in(nina, "nina", "nina-pass-1")
        await expect(nina.locator("#who")).to_have_text("nina (operator)")
        await expect(nina.locator("#audit-tab")).to_be_hidden()

        # a password reset: the old one no longer works
        await nina_row.locator(".new-password").fill("nina-pass-2")
        await nina_row.locator(".reset-password").click()
        await expect(admin.locator("#admin-message")).to_have_text("Password reset")

        # disabled: her session ends and she cannot log in
        await nina_row.locator(".toggle-user").click()
        await expect(nina_row.locator(".user-status")).to_have_text("disabled")
        await nina.reload()
        await expect(nina.locator("#login")).to_be_visible()
        await log_in(nina, "nina", "nina-pass-2")
        await expect(nina.locator("#login-error")).to_have_text("Wrong name or password")

        # the last admin stays
        ada_row = admin.locator('#users tr[data-user="ada"]')
        await ada_row.locator(".toggle-user").click()
        await expect(admin.locator("#admin-error")).to_contain_text(
            "Refused: the last enabled admin cannot be demoted or disabled")
        await ada_row.locator("select").select_option("supervisor")
        await ada_row.locator(".set-role").click()
        await expect(admin.locator("#admin-error")).to_contain_text("last enabled admin")
        await expect(ada_row.locator(".user-status")).to_have_text("enabled")
        users = {u["name"]: u for u in run.center.store.users()}
        assert (users["ada"]["role"], users["ada"]["disabled"]) == ("admin", False)
        assert (users["nina"]["role"], users["nina"]["disabled"]) == ("operator", True)

        # enabled again, with the new password
        await nina_row.locator(".toggle-user").click()
        await expect(nina_row.locator(".user-status")).to_have_text("enabled")
        await log_in(nina, "nina", "nina-pass-2")
        await expect(nina.locator("#who")).to_have_text("nina (operator)")


async def test_a_plan_edited_in_the_console_gates_a_new_alerts_close(tmp_path, browser):
    async with center_running(tmp_path, plans=PLANS) as (run, _):
        run.center.store.add_user("ada", "admin", ADMIN_PASSWORD)
        admin = await open_console(browser, run.base, "ada", ADMIN_PASSWORD)
        await admin.click("#admin-tab")
        await admin.select_option("#plan-type", "intrusion")
        await expect(admin.locator("#plan-source")).to_have_text("From the config (the default)")
        await expect(admin.locator("#plan-reset")).to_be_disabled()
        steps = admin.locator("#plan-edit .plan-step")
        await expect(steps).to_have_count(2)
        await steps.nth(1).locator(".remove-step").click()  # call_site goes
        await admin.click("#plan-add-step")
        await steps.nth(1).locator(".step-id").fill("radio_patrol")
        await steps.nth(1).locator(".step-text").fill("Radio the patrol")
        await admin.click("#plan-add-step")
        await steps.nth(2).locator(".step-id").fill("photo")
        await steps.nth(2).locator(".step-text").fill("Keep a photo")
        await steps.nth(2).locator(".step-required").uncheck()
        await admin.click("#plan-save")
        await expect(admin.locator("#admin-message")).to_have_text("Plan saved")
        await expect(admin.locator("#plan-source")).to_contain_text("Edited in the console")
        await expect(admin.locator("#plan-source")).to_contain_text("ada")
        await expect(admin.locator("#plan-reset")).to_be_enabled()
        # a bad step is refused, naming what to check; nothing is stored
        await steps.nth(0).locator(".step-id").fill("Bad id")
        await admin.click("#plan-save")
        await expect(admin.locator("#admin-error")).to_contain_text("steps.0.id")
        assert '"radio_patrol"' in run.center.store.plan_override("intrusion")

        (aid,) = write_alerts(run.center.store, alert_messages()[0])
        olga = await open_console(browser, run.base, "olga", PASSWORDS["olga"])
        await olga.click('nav button[data-tab="alerts"]')
        await olga.locator(f'#alerts tr[data-id="{aid}"]').click()
        checklist = olga.locator("#plan-steps li")
        await expect(checklist).to_have_count(3)
        await expect(checklist.nth(1)).to_contain_text("Radio the patrol")
        await olga.click('#actions button[data-action="acknowledge"]')
        close = olga.locator('#actions button[data-action="close"]')
        await olga.select_option("#outcome", "confirmed")
        await expect(close).to_be_disabled()
        await olga.check('#plan-steps input[data-step="check_video"]')
        await expect(close).to_be_disabled()
        await expect(olga.locator("#action-why")).to_contain_text("Radio the patrol")
        await olga.check('#plan-steps input[data-step="radio_patrol"]')
        await expect(close).to_be_enabled()  # the optional photo does not block
        await close.click()
        await expect(olga.locator("#detail-facts")).to_contain_text("confirmed")
        assert run.center.store.alert(aid)["state"] == "closed"

        # reset to default: the config's plan is a new alert's checklist again
        await admin.click("#plan-reset")
        await expect(admin.locator("#admin-message")).to_have_text("Plan reset to default")
        await expect(admin.locator("#plan-source")).to_have_text("From the config (the default)")
        await expect(steps).to_have_count(2)
        (other,) = write_alerts(run.center.store, alert_messages(camera="yard")[0])
        await olga.reload()  # written to the store, not published: the list reloads
        await olga.click('nav button[data-tab="alerts"]')
        await olga.locator(f'#alerts tr[data-id="{other}"]').click()
        await expect(olga.locator('#plan-steps input[data-step="call_site"]')).to_have_count(1)
        assert run.center.store.plan_override("intrusion") is None


async def test_the_admin_page_in_chinese_and_hidden_from_others(tmp_path, browser):
    async with center_running(tmp_path, plans=PLANS) as (run, _):
        run.center.store.add_user("ada", "admin", ADMIN_PASSWORD)
        # operators and supervisors see no admin controls
        for name in ("olga", "sam"):
            page = await open_console(browser, run.base, name, PASSWORDS[name])
            await expect(page.locator("#who")).to_contain_text(name)
            await expect(page.locator("#admin-tab")).to_be_hidden()
            await expect(page.locator("#tab-admin")).to_be_hidden()
        admin = await open_console(browser, run.base, "ada", ADMIN_PASSWORD, locale="zh-CN")
        await admin.click("#admin-tab")
        await expect(admin.locator("#admin-tab")).to_have_text("系统管理")
        await expect(admin.locator("#users tbody tr")).to_have_count(3)
        await admin.select_option("#plan-type", "intrusion")
        await admin.click("#plan-add-step")  # an empty step: its placeholders show
        # a message and an error drawn too
        await admin.locator('#users tr[data-user="olga"] .toggle-user').click()
        await expect(admin.locator("#admin-message")).to_have_text("用户已停用")
        await admin.locator('#users tr[data-user="ada"] .toggle-user').click()
        await expect(admin.locator("#admin-error")).to_contain_text("最后一个启用的管理员")
        await expect(admin.locator('#users tr[data-user="olga"] .user-status')).to_have_text(
            "已停用")
        await expect(admin.locator('#users tr[data-user="ada"] .user-role')).to_have_text(
            "管理员")
        await assert_translated(admin, "administration")
        # switched to English, the same page redraws in English
        await admin.select_option("#lang", "en")
        await expect(admin.locator("#admin-tab")).to_have_text("Administration")
        await expect(admin.locator('#users tr[data-user="olga"] .user-status')).to_have_text(
            "disabled")
        await expect(admin.locator("#admin-error")).to_contain_text(
            "Refused: the last enabled admin cannot be demoted or disabled")
        await expect(admin.locator("#plan-edit .plan-step")).to_have_count(3)  # kept
