/**
 * Reading the repository's own sources with the TypeScript compiler (a devDependency), for the architecture and size
 * tests: import specifiers, uses of process.argv / process.exit, file and function lengths. No hand-written lexer:
 * comments, strings, template literals and regexes are the compiler's business.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

export interface ImportRef {
  readonly spec: string;
  readonly line: number;
}

/** A parsed file; `file` only names it in messages. */
export function parse(file: string, src: string): ts.SourceFile {
  return ts.createSourceFile(file, src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function lineAt(sf: ts.SourceFile, pos: number): number {
  return sf.getLineAndCharacterOfPosition(pos).line + 1;
}

/**
 * Import specifiers from the compiler's pre-processor (`ts.preProcessFile`, what tsserver uses to find a file's
 * dependencies): `import … from`, `export … from`, side-effect imports, `import x = require()`, `require()`,
 * `import()` and `import('…')` types. It scans tokens rather than parsing, so `astImports` double-checks it.
 */
export function extractImports(sf: ts.SourceFile): ImportRef[] {
  return ts.preProcessFile(sf.text, true, true).importedFiles.map((f) => ({ spec: f.fileName, line: lineAt(sf, f.pos) }));
}

function moduleSpecifierOf(node: ts.Node): ts.Expression | undefined {
  if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return node.moduleSpecifier;
  if (ts.isExternalModuleReference(node)) return node.expression;
  if (ts.isCallExpression(node)) {
    const callee = node.expression;
    const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
    const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
    return isImport || isRequire ? node.arguments[0] : undefined;
  }
  if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) return node.argument.literal;
  return undefined;
}

/** The same specifiers found by walking the syntax tree: the reference `extractImports` must agree with. */
export function astImports(sf: ts.SourceFile): ImportRef[] {
  const out: ImportRef[] = [];
  // In a module, `declare module 'x'` augments x: the pre-processor lists it, so it is listed here too.
  const augments = ts.isExternalModule(sf);
  const visit = (node: ts.Node): void => {
    const spec = augments && ts.isModuleDeclaration(node) && ts.isStringLiteral(node.name) ? node.name : moduleSpecifierOf(node);
    if (spec !== undefined && ts.isStringLiteralLike(spec)) out.push({ spec: spec.text, line: lineAt(sf, spec.getStart(sf)) });
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// process.argv / process.exit

export interface ProcessUse {
  readonly what: 'argv' | 'exit';
  readonly line: number;
}

const PROCESS_MEMBERS: ReadonlySet<string> = new Set(['argv', 'exit']);
const PROCESS_MODULES: ReadonlySet<string> = new Set(['process', 'node:process']);

function isProcessModule(node: ts.Node | undefined): boolean {
  if (node === undefined) return false;
  if (ts.isStringLiteralLike(node)) return PROCESS_MODULES.has(node.text);
  // require('node:process')
  return ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require' && isProcessModule(node.arguments[0]);
}

/** Local names bound to the process module: `import p from 'process'`, `import * as p`, `import p = require(…)`, `const p = require(…)`. */
function processAliases(sf: ts.SourceFile): Set<string> {
  const names = new Set(['process']);
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && isProcessModule(node.moduleSpecifier) && node.importClause !== undefined) {
      const { name, namedBindings } = node.importClause;
      if (name !== undefined) names.add(name.text);
      if (namedBindings !== undefined && ts.isNamespaceImport(namedBindings)) names.add(namedBindings.name.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && isProcessModule(node.moduleReference.expression)) {
      names.add(node.name.text);
    } else if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && isProcessModule(node.initializer)) {
      names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return names;
}

/** `process` itself, an alias of it, or `globalThis.process`. */
function isProcessRef(node: ts.Expression, aliases: ReadonlySet<string>): boolean {
  if (ts.isIdentifier(node)) return aliases.has(node.text);
  return ts.isPropertyAccessExpression(node) && node.name.text === 'process' && ts.isIdentifier(node.expression) && node.expression.text === 'globalThis';
}

/** The member a node reads from the process object, if it is `argv` or `exit`. */
function processMember(node: ts.Node, aliases: ReadonlySet<string>): string | undefined {
  if (ts.isPropertyAccessExpression(node) && isProcessRef(node.expression, aliases)) return node.name.text;
  if (ts.isElementAccessExpression(node) && isProcessRef(node.expression, aliases) && ts.isStringLiteralLike(node.argumentExpression)) {
    return node.argumentExpression.text;
  }
  // import { argv } from 'node:process'
  if (ts.isImportSpecifier(node) && isProcessModule(node.parent.parent.parent.moduleSpecifier)) return (node.propertyName ?? node.name).text;
  // const { exit } = process, or = require('node:process')
  if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent) && ts.isVariableDeclaration(node.parent.parent)) {
    const init = node.parent.parent.initializer;
    const key = node.propertyName ?? node.name;
    if (init !== undefined && (isProcessModule(init) || isProcessRef(init, aliases)) && ts.isIdentifier(key)) return key.text;
  }
  return undefined;
}

/** Every read of process.argv and process.exit, however it is spelled (comments and strings never count). */
export function processArgvExitUses(sf: ts.SourceFile): ProcessUse[] {
  const aliases = processAliases(sf);
  const out: ProcessUse[] = [];
  const visit = (node: ts.Node): void => {
    const member = processMember(node, aliases);
    if (member !== undefined && PROCESS_MEMBERS.has(member)) out.push({ what: member as ProcessUse['what'], line: lineAt(sf, node.getStart(sf)) });
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Sizes

/** Lines as `wc -l` counts them, plus a last line without a newline. */
export function lineCount(src: string): number {
  if (src === '') return 0;
  let n = 0;
  for (let i = 0; i < src.length; i++) if (src.charCodeAt(i) === 10) n++;
  return src.endsWith('\n') ? n : n + 1;
}

export interface FunctionSize {
  readonly name: string;
  readonly line: number;
  readonly lines: number;
}

/** A function's name, or the name it is assigned to (`const f = () => …`, `{ f: function () {} }`). */
function functionName(node: ts.FunctionLikeDeclaration): string {
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (node.name !== undefined && !ts.isComputedPropertyName(node.name)) return node.name.getText();
  const p = node.parent;
  if ((ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && ts.isIdentifier(p.name)) return p.name.text;
  return '<anonymous>';
}

/** Every function, method, accessor, constructor or arrow function body spanning more than `maxLines` lines. */
export function longFunctions(sf: ts.SourceFile, maxLines: number): FunctionSize[] {
  const out: FunctionSize[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = lineAt(sf, fn.getStart(sf));
      const lines = lineAt(sf, fn.getEnd()) - first + 1;
      if (lines > maxLines) out.push({ name: functionName(fn), line: first, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Files below `root`/`rel` (posix, repo-relative, sorted) accepted by `keep`, not descending into `skipDirs`. */
export function listFiles(root: string, rel: string, keep: (file: string) => boolean, skipDirs: ReadonlySet<string>): string[] {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory() && !skipDirs.has(r) && !skipDirs.has(e.name)) out.push(...listFiles(root, r, keep, skipDirs));
    else if (e.isFile() && keep(r)) out.push(r);
  }
  return out.sort();
}
