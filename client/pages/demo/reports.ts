/** For the owner of the open chat: the open reports on its messages, each resolved, or resolved with the message deleted. */
import type { ReportView } from "../../../shared/contract/views";
import { type DemoContext, h, keepFocus, timeOf, ui } from "./page";

export interface ReportsView {
  /** A chat was opened (or closed: null); `owner` shows the Reports button, with the count of open reports. */
  reset(chatId: string | null, owner: boolean): void;
}

export function createReports(ctx: DemoContext): ReportsView {
  let chatId: string | null = null;

  function label(count: number | null): void {
    ui.reportsToggle.textContent = count ? `Reports (${count})` : "Reports";
  }

  function show(open: boolean): void {
    ui.reports.hidden = !open;
    ui.reportsToggle.setAttribute("aria-expanded", String(open));
  }

  async function load(): Promise<void> {
    const id = chatId;
    if (!id) return;
    let reports: ReportView[];
    try {
      reports = await ctx.client.chats.reports(id);
    } catch (err) {
      return ctx.report(err, ui.roomNotice);
    }
    if (chatId !== id) return;
    label(reports.length);
    ui.reportsEmpty.hidden = reports.length > 0;
    keepFocus(ui.reports, () => ui.reportsList.replaceChildren(...reports.map(render)));
  }

  function render(r: ReportView): HTMLLIElement {
    const resolve = h("button", { type: "button", className: "small secondary", dataset: { focus: `resolve:${r.id}` } }, "Resolve");
    const remove = h("button", { type: "button", className: "small danger", dataset: { focus: `resolve-delete:${r.id}` } }, "Resolve & delete");
    resolve.setAttribute("aria-label", `Resolve ${r.reporter.username}'s report, keeping the message`);
    remove.setAttribute("aria-label", `Resolve ${r.reporter.username}'s report and delete ${r.sender.username}'s message`);
    const act = (deleteMessage: boolean) => async () => {
      resolve.disabled = remove.disabled = true;
      try {
        await ctx.client.chats.resolveReport(r.chat_id, r.id, deleteMessage ? { delete_message: true } : {});
        ui.roomNotice.textContent = deleteMessage ? "Report resolved; the message was deleted." : "Report resolved.";
      } catch (err) {
        ctx.report(err, ui.roomNotice);
      }
      await load();
      if (!ui.reports.contains(document.activeElement)) ui.reportsToggle.focus();
    };
    resolve.addEventListener("click", act(false));
    remove.addEventListener("click", act(true));
    return h(
      "li",
      { dataset: { testid: "report", reportId: r.id } },
      h(
        "div",
        {},
        h("strong", {}, r.reporter.username), ` reported ${r.sender.username}'s message `, h("small", {}, `at ${timeOf(r.created_at)}`),
        h("blockquote", {}, r.text),
        h("p", {}, "Reason: ", r.reason),
      ),
      h("span", { className: "actions" }, resolve, remove),
    );
  }

  ui.reportsToggle.addEventListener("click", () => {
    const open = ui.reports.hidden;
    show(open);
    if (open) void load();
  });

  return {
    reset(id, owner) {
      chatId = id;
      show(false);
      ui.reportsList.replaceChildren();
      label(null);
      ui.reportsToggle.hidden = !owner;
      if (owner) void load(); // for the count on the button
    },
  };
}
