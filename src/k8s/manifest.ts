/**
 * Multi-document YAML manifests (what `cmesh apply -f` reads): documents separated by `---`, empty ones skipped,
 * `kind: List` expanded into its items. Every object keeps where it came from so later errors can point at it.
 */
import { LineCounter, parseAllDocuments, isMap, isSeq, type Node } from 'yaml';

/** YAML anchors can expand exponentially ("billion laughs"); real manifests use a handful. */
const MAX_ALIAS_COUNT = 100;

export interface ManifestDocument {
  /** The parsed object (not validated yet: pass it to validateObject or ObjectStore.applyAll). */
  object: Record<string, unknown>;
  /** 0-based index of the YAML document in the stream (empty documents count, as a reader counts `---`). */
  index: number;
  /** For items of a `kind: List`, the 0-based item index. */
  item?: number;
  /** 1-based line where the object starts. */
  line: number;
  /** Human form: `web.yaml: document 2 (line 14)`. */
  location: string;
}

export interface ManifestIssue {
  index: number;
  item?: number;
  line: number;
  message: string;
}

export class ManifestError extends Error {
  override name = 'ManifestError';
  constructor(
    readonly issues: readonly ManifestIssue[],
    readonly source?: string,
  ) {
    super(issues.map((i) => `${describeLocation(source, i.index, i.item, i.line)}: ${i.message}`).join('\n'));
  }
}

function describeLocation(source: string | undefined, index: number, item: number | undefined, line: number): string {
  const doc = `document ${index + 1}${item === undefined ? '' : `, item ${item + 1}`} (line ${line})`;
  return source ? `${source}: ${doc}` : doc;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses every document of `text`. Throws ManifestError listing every bad document (syntax errors, documents
 * that are not mappings, malformed Lists) with its index and line; returns the objects otherwise.
 * `source` (a file name) prefixes locations.
 */
export function parseManifest(text: string, source?: string): ManifestDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const out: ManifestDocument[] = [];
  const issues: ManifestIssue[] = [];
  const lineOf = (offset: number): number => lineCounter.linePos(offset).line;
  // parseAllDocuments returns an EmptyStream (not an array) for input without documents.
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, index) => {
    const contents = doc.contents as Node | null;
    const docLine = lineOf(contents?.range?.[0] ?? doc.range[0]);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        issues.push({ index, line: lineOf(e.pos[0]), message: `invalid YAML: ${e.message.split('\n')[0] ?? ''}` });
      }
      return;
    }
    if (contents === null) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      issues.push({ index, line: docLine, message: `invalid YAML: ${(err as Error).message}` });
      return;
    }
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) {
      issues.push({ index, line: docLine, message: 'must be a mapping with apiVersion, kind and metadata' });
      return;
    }
    if (value.kind === 'List') {
      const items = value.items;
      const itemsNode = isMap(contents) ? contents.get('items', true) : undefined;
      if (!Array.isArray(items)) {
        issues.push({ index, line: docLine, message: 'a List must have an items list' });
        return;
      }
      items.forEach((it: unknown, item) => {
        const itemNode = isSeq(itemsNode) ? (itemsNode.items[item] as Node | undefined) : undefined;
        const line = itemNode?.range ? lineOf(itemNode.range[0]) : docLine;
        if (!isPlainObject(it)) {
          issues.push({
            index,
            item,
            line,
            message: 'a List item must be a mapping with apiVersion, kind and metadata',
          });
          return;
        }
        out.push({ object: it, index, item, line, location: describeLocation(source, index, item, line) });
      });
      return;
    }
    out.push({ object: value, index, line: docLine, location: describeLocation(source, index, undefined, docLine) });
  });
  if (issues.length > 0) throw new ManifestError(issues, source);
  return out;
}
