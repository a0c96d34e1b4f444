// TypeDoc plugin: @iotsim/core re-exports valibot as the namespace `v` (for option schemas);
// valibot documents itself, so its 700-odd pages are left out of the API reference.
import { Converter, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const r of context.project.getReflectionsByKind(ReflectionKind.Namespace)) {
      if (r.name === 'v' && r.parent?.name === '@iotsim/core') context.project.removeReflection(r);
    }
  });
}
