// Glossator's pages: turn a text selection into plain-text offsets, add highlights,
// follow an export. No dependencies; served by the app itself.
"use strict";

(function () {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  // Highlights count code points (Python str indices), not UTF-16 units.
  const codePoints = (text) => Array.from(text).length;

  async function api(method, url, body) {
    const options = { method, headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      throw new Error(message);
    }
    return data;
  }

  // Every text node inside the server's offset spans, with its plain-text start.
  function textNodes(root) {
    const nodes = [];
    for (const span of root.querySelectorAll("span[data-start]")) {
      let offset = Number(span.dataset.start);
      const walker = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        nodes.push([node, offset]);
        offset += codePoints(node.data);
      }
    }
    return nodes;
  }

  // The plain-text offset of a DOM boundary point. A point between text nodes belongs
  // to the next text (for a start) or to the previous one (for an end).
  function boundaryOffset(nodes, container, offset, isEnd) {
    const point = document.createRange();
    point.setStart(container, offset);
    let previousEnd = nodes.length ? nodes[0][1] : 0;
    for (const [node, start] of nodes) {
      if (node === container) {
        return start + codePoints(node.data.slice(0, offset));
      }
      if (point.comparePoint(node, 0) >= 0) {
        return isEnd ? previousEnd : start;
      }
      previousEnd = start + codePoints(node.data);
    }
    return previousEnd;
  }

  function selectionOffsets(root) {
    const selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    if (!root.contains(range.commonAncestorContainer)) return null;
    const nodes = textNodes(root);
    const start = boundaryOffset(nodes, range.startContainer, range.startOffset, false);
    const end = boundaryOffset(nodes, range.endContainer, range.endOffset, true);
    return end > start ? { start, end } : null;
  }

  // A mark names the highlights covering it (data-highlights); their labels are on the
  // page once, in the highlight list. The tooltip is built when the pointer arrives.
  function labelMarks(root) {
    const labels = new Map();
    for (const item of document.querySelectorAll("#highlight-list [data-highlight-id]")) {
      labels.set(item.dataset.highlightId, item.dataset.label || "");
    }
    const label = (mark) => {
      if (mark && !mark.hasAttribute("title")) {
        const ids = (mark.dataset.highlights || "").split(" ").filter(Boolean);
        mark.title = ids.map((id) => labels.get(id) || "").join("; ");
      }
    };
    root.addEventListener("mouseover", (event) => label(event.target.closest("mark.hl")));
    root.addEventListener("focusin", (event) => label(event.target.closest("mark.hl")));
  }

  function setupDocumentPage() {
    const root = document.getElementById("document");
    if (!root) return;
    labelMarks(root);
    const documentId = root.dataset.documentId;
    const form = document.getElementById("highlight-form");
    const status = document.getElementById("highlight-status");
    // Remember the last selection in the document: typing the comment moves the focus
    // (and so the browser's selection) into the form.
    let selected = null;
    document.addEventListener("selectionchange", () => {
      const offsets = selectionOffsets(root);
      if (offsets) {
        selected = offsets;
        status.textContent = `Selected ${offsets.end - offsets.start} characters.`;
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const offsets = selectionOffsets(root) || selected;
      if (!offsets) {
        status.textContent = "Select a passage of the document first.";
        return;
      }
      status.textContent = "Saving…";
      try {
        await api("POST", `/api/documents/${documentId}/highlights`, {
          start: offsets.start,
          end: offsets.end,
          tag: document.getElementById("highlight-tag").value,
          comment: document.getElementById("highlight-comment").value,
        });
        window.location.reload();
      } catch (error) {
        status.textContent = `Not saved: ${error.message}`;
      }
    });

    const exportButton = document.getElementById("export-button");
    const exportStatus = document.getElementById("export-status");
    const download = document.getElementById("export-download");
    exportButton.addEventListener("click", async () => {
      exportButton.disabled = true;
      download.hidden = true;
      exportStatus.textContent = "Queued…";
      try {
        let job = (await api("POST", `/api/documents/${documentId}/exports`)).export;
        while (!["done", "failed", "cancelled"].includes(job.status)) {
          exportStatus.textContent = job.status === "running" ? "Compiling the PDF…" : "Queued…";
          await new Promise((resolve) => setTimeout(resolve, 500));
          job = (await api("GET", `/api/exports/${job.id}`)).export;
        }
        if (job.status === "done") {
          exportStatus.textContent = `Ready (${job.result_size} bytes).`;
          download.href = `/api/exports/${job.id}/pdf`;
          download.hidden = false;
        } else {
          exportStatus.textContent = `Export ${job.status}: ${job.error || "no details"}`;
        }
      } catch (error) {
        exportStatus.textContent = `Export failed: ${error.message}`;
      } finally {
        exportButton.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", setupDocumentPage);
})();
