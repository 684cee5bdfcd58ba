// CLIPstyler front-end extension: one colour for the pack's nodes, and Save StyleNet shows the file it wrote.
import { app } from "../../scripts/app.js";

const PREFIX = "CLIPstyler";
const COLOR = "#2f3b5c"; // title bar
const BGCOLOR = "#3e4d75"; // body

async function makeSavedWidget(node) {
  let widget = null;
  try {
    const { ComfyWidgets } = await import("../../scripts/widgets.js");
    widget = ComfyWidgets?.STRING?.(node, "saved", ["STRING", { multiline: true }], app)?.widget ?? null;
    if (widget?.inputEl) widget.inputEl.readOnly = true;
  } catch (error) {
    widget = null; // no legacy widgets module: fall back to a plain canvas text widget
  }
  if (!widget && typeof node.addWidget === "function") {
    widget = node.addWidget("text", "saved", "", () => {}, {});
    if (widget) widget.disabled = true;
  }
  if (widget) {
    widget.serialize = false; // kept out of the workflow's widgets_values
    widget.options = widget.options ?? {};
    widget.options.serialize = false; // and out of the prompt sent to the server
  }
  return widget;
}

function showSaved(node, text) {
  node.__clipstylerSaved ??= makeSavedWidget(node);
  node.__clipstylerSaved
    .then((widget) => {
      if (!widget) return;
      widget.value = text;
      const size = node.computeSize?.();
      if (size && node.size) node.setSize?.([Math.max(node.size[0], size[0]), Math.max(node.size[1], size[1])]);
      app.graph?.setDirtyCanvas?.(true, true);
    })
    .catch((error) => console.warn("[CLIPstyler] could not show the saved file name:", error));
}

app.registerExtension({
  name: "CLIPstyler.nodes",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const name = nodeData?.name;
    if (typeof name !== "string" || !name.startsWith(PREFIX) || !nodeType?.prototype) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      this.color ??= COLOR; // a workflow's own colours, applied after creation, still win
      this.bgcolor ??= BGCOLOR;
      return result;
    };
    if (name !== "CLIPstylerSaveStyleNet") return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const result = onExecuted?.apply(this, arguments);
      const text = Array.isArray(message?.text) ? message.text.filter((t) => typeof t === "string") : [];
      if (text.length) showSaved(this, text.join("\n"));
      return result;
    };
  },
});
