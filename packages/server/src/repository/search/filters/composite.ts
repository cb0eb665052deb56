import { escapeSearchValue, evalFhirPathTyped, type TypedValue, toTypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import { compileCondition } from '../compile-filter.js';
import { type IndexedParamType, RowCollector } from '../index-convert.js';
import { getParsedExpression } from '../index-values.js';
import { type CompositeComponent, type Condition, getCompositeComponents, splitValues } from '../params.js';
import type { SearchRows } from '../rows.js';
import { badSearch, type CompileContext, orJoin, type Scope } from '../sql.js';
import { dateRowsMatch } from './date.js';
import { numberRowsMatch } from './number.js';
import { referenceRowsMatch } from './reference.js';
import { stringRowsMatch } from './string.js';
import { tokenRowsMatch } from './token.js';
import { uriRowsMatch } from './uri.js';

/**
 * Composite search (https://hl7.org/fhir/R4/search.html#composite), e.g.
 * `code-value-quantity=http://loinc.org|8480-6$gt100`. Composites have no index rows: SQL
 * requires each component to match its own parameter's rows. When the composite's base is the
 * resource itself that is exact; over a repeating element (`Observation.component`) the
 * components must match within the same element, which a JS check verifies on the candidates.
 */
export function compositeCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const components = getCompositeComponents(scope.resourceType, cond.param);
  const tuples = splitValues(cond.value).map((v) => {
    const parts = v.split('$');
    if (parts.length !== components.length) {
      throw badSearch(`Invalid value for ${cond.param.code}: expected ${components.length} parts separated by $`);
    }
    return parts;
  });
  const sql = orJoin(
    tuples.map((parts) =>
      parts
        .map((part, i) =>
          compileCondition(ctx, scope, {
            param: components[i].param,
            modifier: undefined,
            value: escapeSearchValue(part),
          })
        )
        .join(' AND ')
    )
  );
  const base = getParsedExpression(scope.resourceType, cond.param);
  if (base && base.toString() !== scope.resourceType) {
    if (!scope.topLevel) {
      throw badSearch(`Composite parameter ${cond.param.code} cannot be used in a chain`);
    }
    const { resourceType } = scope;
    const baseUrl = ctx.baseUrl;
    ctx.postFilters.push(
      (resource) =>
        resource.resourceType !== resourceType ||
        tuples.some((parts) => matchesTuple(resource, cond.param, components, parts, baseUrl))
    );
  }
  return sql;
}

function matchesTuple(
  resource: Resource,
  composite: SearchParameter,
  components: CompositeComponent[],
  parts: string[],
  baseUrl: string
): boolean {
  const root = toTypedValue(resource);
  const variables: Record<string, TypedValue> = { '%resource': root, '%rootResource': root };
  const base = getParsedExpression(resource.resourceType, composite);
  if (!base) {
    return false;
  }
  return evalFhirPathTyped(base, [root], variables).some((item) =>
    components.every((component, i) => {
      const collector = new RowCollector();
      const type = component.param.type as IndexedParamType;
      for (const value of evalFhirPathTyped(component.expression, [item], variables)) {
        collector.add(component.param.code, type, value);
      }
      return rowsMatch(collector.rows, type, component.param.code, parts[i], baseUrl);
    })
  );
}

function rowsMatch(rows: SearchRows, type: IndexedParamType, code: string, value: string, baseUrl: string): boolean {
  switch (type) {
    case 'token':
      return tokenRowsMatch(rows.token, value);
    case 'string':
      return stringRowsMatch(rows.string, value);
    case 'date':
      return dateRowsMatch(rows.date, code, value);
    case 'number':
      return numberRowsMatch(rows.number, code, value, false);
    case 'quantity':
      return numberRowsMatch(rows.quantity, code, value, true);
    case 'reference':
      return referenceRowsMatch(rows.reference, baseUrl, value);
    case 'uri':
      return uriRowsMatch(rows.uri, value);
  }
}
