/**
 * `etcd-monitor completion bash|zsh|fish`: a static completion script (like
 * etcdctl's and kubectl's) for the commands, their flags and the values of
 * flags that take a fixed set of choices or a file. It is generated from the
 * commands themselves, so it never drifts from the real flags.
 */
import { Command, InvalidArgumentError, type Option } from 'commander';
import { COMMANDS } from './commands.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export interface FlagSpec {
  readonly long: string;
  readonly short?: string;
  readonly description: string;
  /** The flag takes a value. */
  readonly value: boolean;
  /** The value is one of these. */
  readonly choices?: readonly string[];
  /** The value is a file name. */
  readonly file: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** Fixed values of the first positional argument (`completion bash|zsh|fish`). */
  readonly args?: readonly string[];
}

export function completionCommand(done: (code: number) => void): Command {
  return new Command('completion')
    .description(
      'Print a shell completion script. bash: source <(etcd-monitor completion bash); zsh: etcd-monitor completion zsh > "${fpath[1]}/_etcd-monitor"; fish: etcd-monitor completion fish > ~/.config/fish/completions/etcd-monitor.fish',
    )
    .argument('<shell>', `one of ${SHELLS.join(', ')}`, (value: string) => {
      if (!(SHELLS as readonly string[]).includes(value))
        throw new InvalidArgumentError(`unknown shell "${value}" (one of ${SHELLS.join(', ')})`);
      return value as Shell;
    })
    .action(async (shell: Shell) => {
      process.stdout.write(completionScript(shell, await commandSpecs()));
      done(0);
    });
}

/** Loads every command (the one place that does) and describes its flags. */
export async function commandSpecs(): Promise<CommandSpec[]> {
  const specs: CommandSpec[] = [];
  for (const entry of COMMANDS) {
    const cmd = (await entry.load())(() => undefined);
    specs.push({
      name: entry.name,
      summary: entry.summary,
      flags: [...cmd.options.filter((o) => !o.hidden).map(flagSpec), HELP_FLAG],
      ...(entry.name === 'completion' ? { args: SHELLS } : {}),
    });
  }
  return specs;
}

const HELP_FLAG: FlagSpec = {
  long: '--help',
  short: '-h',
  description: 'show help',
  value: false,
  file: false,
};

function flagSpec(o: Option): FlagSpec {
  return {
    long: o.long ?? '',
    ...(o.short !== undefined ? { short: o.short } : {}),
    description: o.description,
    // `--leader-elect [bool]` takes an optional value: completed as a switch.
    value: o.required,
    ...(o.argChoices !== undefined ? { choices: o.argChoices } : {}),
    file: /<file>/.test(o.flags),
  };
}

export function completionScript(shell: Shell, specs: readonly CommandSpec[]): string {
  switch (shell) {
    case 'bash':
      return bashScript(specs);
    case 'zsh':
      return zshScript(specs);
    case 'fish':
      return fishScript(specs);
  }
}

function names(f: FlagSpec): string[] {
  return f.short !== undefined ? [f.short, f.long] : [f.long];
}

function bashScript(specs: readonly CommandSpec[]): string {
  const top = [...specs.map((s) => s.name), 'help', '--help', '--version'].join(' ');
  const flagCases = specs
    .map((s) => `    ${s.name}) flags='${s.flags.flatMap(names).join(' ')}' ;;`)
    .join('\n');
  const valueCases: string[] = [];
  for (const s of specs) {
    for (const f of s.flags) {
      if (!f.value) continue;
      const pattern = names(f)
        .map((n) => `${s.name}:${n}`)
        .join('|');
      const action =
        f.choices !== undefined
          ? `COMPREPLY=($(compgen -W '${f.choices.join(' ')}' -- "$cur"))`
          : f.file
            ? `COMPREPLY=($(compgen -f -- "$cur"))`
            : 'COMPREPLY=()';
      valueCases.push(`    ${pattern}) ${action}; return ;;`);
    }
  }
  const argCases = specs
    .filter((s) => s.args !== undefined)
    .map((s) => `    ${s.name}) args='${s.args?.join(' ')}' ;;`)
    .join('\n');
  return `# bash completion for etcd-monitor: source <(etcd-monitor completion bash)
_etcd_monitor() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W '${top}' -- "$cur"))
    return
  fi
  local cmd="\${COMP_WORDS[1]}" flags='' args=''
  if [[ $cmd == help ]]; then
    ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W '${specs.map((s) => s.name).join(' ')}' -- "$cur"))
    return
  fi
  case "$cmd:$prev" in
${valueCases.join('\n')}
  esac
  case "$cmd" in
${flagCases}
  esac
  case "$cmd" in
${argCases}
  esac
  COMPREPLY=($(compgen -W "$flags $args" -- "$cur"))
}
complete -o default -F _etcd_monitor etcd-monitor
`;
}

/** zsh _arguments specs: brackets, colons and quotes in descriptions are escaped. */
function zshEscape(text: string): string {
  return text.replace(/[[\]:\\]/g, (c) => `\\${c}`).replace(/'/g, `'\\''`);
}

function zshScript(specs: readonly CommandSpec[]): string {
  const commands = specs.map((s) => `    '${s.name}:${zshEscape(s.summary)}'`).join('\n');
  const cases = specs
    .map((s) => {
      const lines = s.flags.map((f) => {
        const value =
          f.choices !== undefined
            ? `:value:(${f.choices.join(' ')})`
            : f.file
              ? ':file:_files'
              : f.value
                ? ':value: '
                : '';
        const desc = `[${zshEscape(f.description.slice(0, 80))}]`;
        const spec =
          f.short !== undefined
            ? `'(${f.short} ${f.long})'{${f.short},${f.long}}'${desc}${value}'`
            : `'${f.long}${desc}${value}'`;
        return `        ${spec}`;
      });
      if (s.args !== undefined) lines.push(`        '1:shell:(${s.args.join(' ')})'`);
      return `    ${s.name})\n      _arguments -s \\\n${lines.join(' \\\n')}\n      ;;`;
    })
    .join('\n');
  return `#compdef etcd-monitor
# zsh completion for etcd-monitor: etcd-monitor completion zsh > "\${fpath[1]}/_etcd-monitor"
_etcd-monitor() {
  local -a commands
  commands=(
${commands}
  )
  if ((CURRENT == 2)); then
    _describe -t commands 'etcd-monitor command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  ((CURRENT--))
  case $cmd in
    help) _describe -t commands 'etcd-monitor command' commands ;;
${cases}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _etcd-monitor "$@"
else
  compdef _etcd-monitor etcd-monitor
fi
`;
}

function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function fishScript(specs: readonly CommandSpec[]): string {
  const lines = [
    '# fish completion for etcd-monitor: etcd-monitor completion fish > ~/.config/fish/completions/etcd-monitor.fish',
    'complete -c etcd-monitor -f',
    "complete -c etcd-monitor -n __fish_use_subcommand -s v -l version -d 'print the version'",
  ];
  for (const s of specs)
    lines.push(`complete -c etcd-monitor -n __fish_use_subcommand -a ${s.name} -d ${fishQuote(s.summary)}`);
  for (const s of specs) {
    const when = `-n '__fish_seen_subcommand_from ${s.name}'`;
    for (const f of s.flags) {
      const parts = ['complete -c etcd-monitor', when];
      if (f.short !== undefined) parts.push(`-s ${f.short.slice(1)}`);
      parts.push(`-l ${f.long.slice(2)}`);
      if (f.choices !== undefined) parts.push(`-x -a ${fishQuote(f.choices.join(' '))}`);
      else if (f.file) parts.push('-r -F');
      else if (f.value) parts.push('-x');
      parts.push(`-d ${fishQuote(f.description.slice(0, 80))}`);
      lines.push(parts.join(' '));
    }
    if (s.args !== undefined)
      lines.push(`complete -c etcd-monitor ${when} -a ${fishQuote(s.args.join(' '))}`);
  }
  return `${lines.join('\n')}\n`;
}
