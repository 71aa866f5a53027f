"""The `kcc` command line.

    kcc export model.kcc out/ [--name NAME]    a model saved with model.save() -> a native
                                               inference project (C API, CMake) in out/

Errors (a missing or unreadable model file, an export that fails) print one line,
"kcc: error: ...", to stderr and exit with status 1; bad arguments exit with 2 (argparse).
"""
import argparse
import os
import sys


def _parser():
    import kcc
    parser = argparse.ArgumentParser(
        prog="kcc",
        description="kcc: the Keras functional API as an ahead-of-time compiler.",
        epilog="Run 'kcc <command> --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"kcc {kcc.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>")
    commands.required = True
    export = commands.add_parser(
        "export", help="write a standalone native inference project for a saved model",
        description="Write a self-contained native inference project for a model saved with "
                    "model.save(path): the generated C++ source, the runtime headers it "
                    "needs, the weights, a C header, a CMakeLists.txt, an example and a "
                    "README. Build it with: cmake -S DIRECTORY -B build && cmake --build build")
    export.add_argument("model", help="the model file written by model.save() (e.g. model.kcc)")
    export.add_argument("directory", help="the folder to write the project into")
    export.add_argument("--name", default=None,
                        help="the library's name and C symbol prefix (default: the model "
                             "file's name, e.g. digits for digits.kcc)")
    export.set_defaults(run=_export)
    return parser


def _export(args):
    from kcc.saving.model_file import load_model
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"no model file at '{args.model}' (save one with "
                                "model.save(path) first)")
    model = load_model(args.model, compile=False)     # predicting needs no training code
    from kcc.export import export_model
    name = args.name
    if name is None:   # digits.kcc -> digits: the name the user gave the model on disk
        from kcc.export.names import default_name
        name = default_name(os.path.splitext(os.path.basename(args.model))[0])
    result = export_model(model, args.directory, name)
    print(f"kcc: exported model '{model.name}' from {args.model} to {args.directory} as "
          f"library '{name}'")
    return result


def main(argv=None):
    """Entry point of the `kcc` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError, RuntimeError, NotImplementedError, ImportError) as exc:
        print(f"kcc: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
