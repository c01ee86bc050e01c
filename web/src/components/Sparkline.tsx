// A hand-drawn inline SVG sparkline: a line and a soft area over the last N samples,
// scaled to the visible range. Decorative; the caller shows the current value as text.
export function Sparkline({
    values,
    width = 160,
    height = 40,
    label,
}: {
    values: number[];
    width?: number;
    height?: number;
    label?: string;
}) {
    const pts = values.filter((v) => Number.isFinite(v));
    if (pts.length < 2) {
        return (
            <svg className="spark spark--empty" width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
                <line x1="0" y1={height - 1} x2={width} y2={height - 1} />
            </svg>
        );
    }
    const min = Math.min(0, ...pts);
    const max = Math.max(...pts);
    const span = max - min || 1;
    const pad = 2;
    const step = (width - pad * 2) / (pts.length - 1);
    const xy = pts.map((v, i) => [pad + i * step, pad + (height - pad * 2) * (1 - (v - min) / span)] as const);
    const line = xy.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
    const area = `${line} L${xy[xy.length - 1][0].toFixed(1)},${height - pad} L${pad},${height - pad} Z`;
    const [lx, ly] = xy[xy.length - 1];
    return (
        <svg
            className="spark"
            width={width}
            height={height}
            viewBox={`0 0 ${width} ${height}`}
            role={label ? 'img' : undefined}
            aria-label={label}
            aria-hidden={label ? undefined : true}
        >
            <path className="spark__area" d={area} />
            <path className="spark__line" d={line} />
            <circle className="spark__dot" cx={lx} cy={ly} r="2.5" />
        </svg>
    );
}
