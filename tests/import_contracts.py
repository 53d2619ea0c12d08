"""An import-linter contract the built-in ones cannot say generically: inside a service, a feature
reaches another feature only through its public face (`service`, and `schemas`/`domain` for the
shared types), never its repository, models, endpoints or handlers (STYLE rule 28); and no two
features depend on each other, directly or around a loop.

A feature is any subpackage of a service package, so a new feature is covered without touching
the configuration; the service's root modules (`app`, `db`, `settings`, the handler map) are not
features and may import any feature. Used from `[tool.importlinter]` in pyproject.toml
(`make lint`)."""

from __future__ import annotations

from grimp import ImportGraph
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class FeatureFacesContract(Contract):
    """Features of each of `services` import one another only through the `public` modules."""

    type_name = "feature_faces"

    services = fields.ListField(subfield=fields.StringField())
    public = fields.ListField(subfield=fields.StringField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Every direct import from one feature into a non-public module of another."""
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        public = set(self.public)  # type: ignore[call-overload]
        violations: list[tuple[str, str, list[int]]] = []
        cycles: list[list[str]] = []
        for service in sorted(self.services):  # type: ignore[call-overload]
            features = {m for m in graph.find_children(service) if graph.find_children(m)}
            uses: dict[str, set[str]] = {f: set() for f in features}
            for feature in sorted(features):
                for importer in sorted({feature} | graph.find_descendants(feature)):
                    for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                        owner = next((f for f in features if imported.startswith(f"{f}.")), None)
                        if owner is None or owner == feature:
                            continue
                        uses[feature].add(owner)
                        if imported.removeprefix(f"{owner}.").split(".")[0] in public:
                            continue
                        details = graph.get_import_details(importer=importer, imported=imported)
                        violations.append((importer, imported, [d["line_number"] for d in details]))
            cycles.extend(_cycles(uses))
        return ContractCheck(
            kept=not violations and not cycles,
            metadata={"violations": violations, "cycles": cycles},
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Each forbidden import with its line numbers."""
        public = ", ".join(sorted(self.public))  # type: ignore[call-overload]
        output.print(f"A feature may import another feature's {public} only:")
        output.new_line()
        for importer, imported, lines in check.metadata["violations"]:
            output.print_error(f"- {importer} -> {imported} (l. {', '.join(map(str, lines))})", bold=False)
        output.new_line()
        for cycle in check.metadata["cycles"]:
            output.print_error(f"- features import each other in a loop: {' -> '.join(cycle)}", bold=False)
        output.new_line()


def _cycles(uses: dict[str, set[str]]) -> list[list[str]]:
    """One loop per feature found on one (depth-first, so each loop is reported once or a few times)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(feature: str, path: list[str]) -> None:
        if feature in path:
            found.append([*path[path.index(feature) :], feature])
            return
        if feature in done:
            return
        for used in sorted(uses[feature]):
            visit(used, [*path, feature])
        done.add(feature)

    for feature in sorted(uses):
        visit(feature, [])
    return found
