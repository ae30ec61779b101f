/**
 * How `ml_collections.config_flags` (1.x and 0.1.x alike) treats a command line, for tests of rendered upstream
 * launch lines: `--config=<file>:<arg>` names a config module (imported, then `get_config(arg)` is called), and every
 * later `--config.<dotted.path>=<value>` overrides one field of that config, parsed by the field's current type.
 *
 * The rules that matter here (they make the upstream script exit with `FATAL Flags parsing error: …`):
 * - the field must exist;
 * - a field whose value is None cannot be overridden ("Type <class 'NoneType'> of field config.<path> is not supported
 *   for overriding"), which is what broke every resume of the official script (`train.lora_path = None`);
 * - the value must parse as the field's type: bool (true/false, 1/0), int, float (an int literal is fine), str (any),
 *   tuple (a Python tuple literal).
 */

/** A config field's Python type name and value, as dumped from the loaded config. */
export interface FieldInfo {
  type: 'NoneType' | 'bool' | 'int' | 'float' | 'str' | 'tuple' | 'list' | 'dict' | string;
  value: unknown;
}

/** `--config=<file>:<arg>` and the overrides of one command line (both `--config.a=b` and `--config.a b`). */
export interface ConfigFlags {
  file: string | null;
  arg: string | null;
  overrides: Array<{ path: string; value: string }>;
}

export function parseConfigFlags(argv: readonly string[], flag = 'config'): ConfigFlags {
  const out: ConfigFlags = { file: null, arg: null, overrides: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    const value = () => (eq < 0 ? (argv[++i] ?? '') : a.slice(eq + 1));
    if (name === `--${flag}`) {
      const v = value();
      const colon = v.indexOf(':');
      out.file = colon < 0 ? v : v.slice(0, colon);
      out.arg = colon < 0 ? null : v.slice(colon + 1);
    } else if (name.startsWith(`--${flag}.`)) {
      out.overrides.push({ path: name.slice(flag.length + 3), value: value() });
    }
  }
  return out;
}

function parses(type: string, raw: string): boolean {
  switch (type) {
    case 'bool':
      return /^(true|false|1|0)$/i.test(raw);
    case 'int':
      return /^[-+]?\d+$/.test(raw);
    case 'float':
      return raw.trim() !== '' && Number.isFinite(Number(raw));
    case 'str':
      return true;
    case 'tuple':
      return /^\(.*\)$/.test(raw.trim());
    default:
      return false;
  }
}

/** The errors ml_collections would raise for these overrides on a config with these fields (empty: accepted). */
export function overrideErrors(
  fields: Record<string, FieldInfo>,
  overrides: ConfigFlags['overrides'],
  flag = 'config',
): string[] {
  const errors: string[] = [];
  for (const o of overrides) {
    const f = fields[o.path];
    if (f === undefined) errors.push(`Could not find field ${flag}.${o.path}`);
    else if (f.type === 'NoneType')
      errors.push(`Type <class 'NoneType'> of field ${flag}.${o.path} is not supported for overriding`);
    else if (!['bool', 'int', 'float', 'str', 'tuple'].includes(f.type))
      errors.push(`Type <class '${f.type}'> of field ${flag}.${o.path} is not supported for overriding`);
    else if (!parses(f.type, o.value))
      errors.push(`Could not parse ${JSON.stringify(o.value)} as ${f.type} for field ${flag}.${o.path}`);
  }
  return errors;
}
