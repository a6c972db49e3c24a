/**
 * HTML/SVG escaping for text and double-quoted attribute values. Site ids, operator names and targets
 * come from configuration files written by many hands; none of them may become markup. Hand-written:
 * five replacements cover both contexts (the page never puts untrusted text in scripts, URLs or CSS).
 */
const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}
