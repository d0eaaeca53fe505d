// How many expressions each style has, per form (text, symbolic, formula…).
MATCH (e:Expression)-[:EXPRESSES]->(s:Scene)
WHERE e.status = 'active'
RETURN e.style AS style, e.form AS form, count(e) AS expressions
ORDER BY expressions DESC, style, form
LIMIT 30;
